"""Fix for a Faust 0.15.3 race seen in bench/faust_handback.py --table (installed by create_app).

With a table, Faust resumes the flow to read changelogs (tables/recovery.py, _restart_recovery:
``consumer.resume_flow()``) and never stops it again. When the changelogs are read,
``Recovery.on_recovery_completed`` resumes the stream partitions *before* awaiting
``consumer.perform_seek()`` (tables/recovery.py:649-657). While that seek waits for the
committed offsets, the drain loop (transport/consumer.py:1206-1223) already fetches and delivers
stream records from aiokafka's position; then perform_seek rewinds ``_read_offset`` and
``_committed_offset`` to the committed offset and seeks aiokafka back, the drain loop finishes
its batch and writes ``_read_offset`` forward again, and the re-fetched records are dropped as
"already read" (consumer.py:1208-1230). The acknowledgement bookkeeping is left with a hole at
its head, so ``Consumer._new_offset`` (consumer.py:1138-1141) returns None and the partition's
committed offset stops advancing until the next rebalance.

``install()`` stops the flow before ``on_recovery_completed`` runs (it resumes the flow itself
once the seek is done), and, on every ``perform_seek``, drops the per-partition acknowledgement
state of the assigned partitions so nothing from before the seek survives it.
"""

from __future__ import annotations

import asyncio
from typing import Any


def install() -> None:
    from faust.tables.recovery import Recovery
    from faust.transport.consumer import Consumer

    if getattr(Recovery.on_recovery_completed, "_veille_fix", False):
        return
    original_completed = Recovery.on_recovery_completed

    async def on_recovery_completed(self: Any, generation_id: int = 0) -> None:
        consumer = self.app.consumer
        # No stream record may be delivered between resume_partitions and the seek.
        consumer.stop_flow()
        await consumer.wait_for_stopped_flow()
        # Let the drain loop leave the batch it was iterating (it breaks on stop_flow).
        for _ in range(3):
            await asyncio.sleep(0)
        await original_completed(self, generation_id)

    on_recovery_completed._veille_fix = True  # type: ignore[attr-defined]
    Recovery.on_recovery_completed = on_recovery_completed  # type: ignore[method-assign]

    original_seek = Consumer.perform_seek

    async def perform_seek(self: Any) -> None:
        await original_seek(self)
        # Everything before the committed offset is re-read: forget acks and gaps from before.
        for tp in self.assignment():
            self._acked.pop(tp, None)
            self._acked_index.pop(tp, None)
            self._gap.pop(tp, None)

    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]
