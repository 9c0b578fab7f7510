"""De-duplication window of one partition: the mention ids enriched recently, bounded in size and age.

Pure: the enrichment stage fills it from what it writes and rebuilds it, when it is assigned a
partition, from the tail of that partition of mentions.enriched (the output itself, not a
changelog), so the window always agrees with what other services have read.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class DedupWindow:
    """Mention id -> (first enriched at, source offset on mentions.raw), oldest first.

    An id is remembered until `ttl` seconds have passed or `max_entries` newer ids pushed it
    out, whichever comes first: memory is bounded whatever the input rate.
    """

    ttl: float
    max_entries: int
    _ids: OrderedDict[bytes, tuple[float, int]] = field(default_factory=OrderedDict, repr=False)

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, key: bytes, now: float) -> tuple[float, int] | None:
        """(enriched at, source offset) of `key` if it is still in the window."""
        entry = self._ids.get(key)
        if entry is None:
            return None
        if now - entry[0] > self.ttl:
            self.expire(now)
            return None
        return entry

    def add(self, key: bytes, at: float, offset: int) -> None:
        if key in self._ids:  # first sighting wins; a re-add only refreshes nothing
            return
        self._ids[key] = (at, offset)
        while len(self._ids) > self.max_entries:
            self._ids.popitem(last=False)

    def expire(self, now: float) -> int:
        """Forget ids older than the ttl; return how many went."""
        gone = 0
        ids = self._ids
        while ids:
            key = next(iter(ids))
            if now - ids[key][0] <= self.ttl:
                break
            del ids[key]
            gone += 1
        return gone
