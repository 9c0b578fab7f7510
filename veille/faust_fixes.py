"""Fixes for Faust 0.15.3 (installed by create_app).

1. A race seen in bench/faust_handback.py --table.

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

2. A stop that outlived the orchestrator's grace period. With the broker unreachable, aiokafka's
``AIOKafkaConsumer.stop()`` re-raises the CancelledError of its fetcher's own tasks; escaping
``AIOKafkaConsumerThread.on_thread_stop``, it skipped mode's ``set_shutdown()`` (mode/threads.py,
``_shutdown_thread``), so the worker waited out mode's 60 s shutdown timeout of the consumer
thread: 62 s in all, past docker-compose's 30 s ``stop_grace_period``, and then a SIGKILL. The
consumer's close now reports such an error instead, and is given at most
``CONSUMER_STOP_SECONDS`` (its coordinator can also loop looking for a broker that is gone,
aio-libs/aiokafka#659). Stopping without the LeaveGroup the broker could not hear anyway loses
nothing: offsets are committed only for what was delivered, and the group forgets the member
after its session timeout.

3. A flush that did not wait for everything (found in a review of crash recovery). A table write
goes through the producer's buffer (``ProducerBuffer``, transport/producer.py): a background task
takes each message and hands it to aiokafka. Faust flushes before every offset commit, and the
spike agent before it writes an open state that builds on a core state, but
``ProducerBuffer.flush`` returned as soon as 0.1 s passed without a message handed over (aiokafka
waiting for metadata or for room in its accumulator takes longer), and never counted the message
being handed over, which aiokafka's own flush then does not know of yet. Offsets could so be
committed ahead of the table writes of the records they cover, which a crash then lost. The
buffer's flush now returns once nothing is waiting and nothing is being handed over (while the
buffer stops, it gives up as before).

4. Acknowledged offsets forgotten on every rebalance (found tracing bench/faust_handback.py: a
worker kept a partition across a rebalance and still read again what it had handled before it).
``Consumer.on_partitions_revoked`` (transport/consumer.py:657-662) pops ``_acked``,
``_acked_index``, ``_committed_offset`` ... of the revoked partitions *before* it awaits the app's
handler (consumer.py:664, ``App._on_partitions_revoked``), whose ``wait_empty`` is the only
commit of a revocation (app/base.py:1829, consumer.py:883-890): that commit finds no ack left.
aiokafka's eager protocol revokes the whole assignment on every rebalance
(group_coordinator.py:406, ``revoked = previous_assignment.tps``), so on every partition, kept or
not, all that was acknowledged since the last timer commit (``broker_commit_interval``, 2.8 s)
went uncommitted; after the join, ``perform_seek`` moves each partition back to the group's
committed offset and those records are read again (duplicates, nothing lost). The consumer now
commits what is acknowledged on the revoked partitions first (the timer's own commit: attached
messages and the producer flushed before the offsets), while the generation is still the one the
acks were made in, for at most the rebalance timeout (aiokafka retries a commit until the group
coordinator answers; past that timeout the group has gone on without the member).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

#: How long a Faust worker's consumer may take to close (leave its group) when the worker stops.
CONSUMER_STOP_SECONDS = 10.0


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
    _commit_before_revoke()
    _bound_consumer_stop()
    _full_flush()


def _commit_before_revoke() -> None:
    from faust.transport.consumer import Consumer

    original_revoked = Consumer.on_partitions_revoked

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        # Faust forgets the acks of the revoked partitions before its own revocation commit runs.
        if revoked and not self.app.client_only:
            bound = self.app.conf.broker_rebalance_timeout
            try:
                # aiokafka retries a commit until the group coordinator answers (a broker gone
                # or frozen once the rebalance began): past the rebalance timeout the group has
                # gone on without this member and the commit would be refused anyway, while the
                # member, and a stop's commit waiting on this one, would wait for ever.
                async with asyncio.timeout(bound):
                    # A commit already running (the timer's) makes commit() wait for it and
                    # return without committing what was acked since: commit once it is done.
                    # Not through Faust's maybe_wait_for_commit_to_finish, which swallows this
                    # task's own cancellation (a stop) with the commit's: the revocation then
                    # went on.
                    running = self._commit_fut
                    while running is not None and not running.done():
                        await asyncio.wait([running])
                        running = self._commit_fut
                    await self.commit(set(revoked))
            except TimeoutError:
                log.warning("commit before the rebalance not done within the rebalance timeout "
                            "(%.0f s; broker unreachable?): the records acknowledged since the "
                            "last commit are read again", bound)
            except Exception as exc:  # noqa: BLE001
                # As before the fix: those records are read again after the rebalance.
                log.warning("commit before the rebalance failed, the records acknowledged "
                            "since the last commit are read again: %r", exc)
        await original_revoked(self, revoked)

    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]


def _full_flush() -> None:
    from faust.transport.producer import ProducerBuffer

    original_send = ProducerBuffer._send_pending

    async def _send_pending(self: Any, fut: Any) -> None:
        self._veille_handing = getattr(self, "_veille_handing", 0) + 1
        try:
            await original_send(self, fut)
        finally:
            self._veille_handing -= 1

    async def flush(self: Any) -> None:
        """Return once no message waits in the buffer and none is being handed to the client."""
        while self.size or getattr(self, "_veille_handing", 0):
            if self.state != "running" and self.size:
                raise RuntimeError("Cannot flush: Producer not Running")
            self.message_sent.clear()
            try:
                await asyncio.wait_for(self.message_sent.wait(), timeout=1.0)
            except TimeoutError:
                if self.state != "running" and self.size:
                    # Stopped or crashed (a send raised in its task) with writes left: never
                    # a quiet return, on which a commit would go ahead of them.
                    raise RuntimeError("Cannot flush: Producer not Running") from None
                if self.should_stop:  # stopping, nothing waiting: the one in hand is lost
                    return

    ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]


def _bound_consumer_stop() -> None:
    from faust.transport.consumer import ConsumerThread
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    async def on_thread_stop(self: Any) -> None:
        # As AIOKafkaConsumerThread.on_thread_stop, with a bound on the consumer's close.
        await ConsumerThread.on_thread_stop(self)
        if self._consumer is None:
            return
        try:
            await asyncio.wait_for(self._consumer.stop(), CONSUMER_STOP_SECONDS)
        except TimeoutError:
            log.warning("the Kafka consumer did not close within %.0f s (broker unreachable?): "
                        "stopping without leaving the group; uncommitted records are read again "
                        "by the partitions' next owner", CONSUMER_STOP_SECONDS)
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001
            # With the broker away, aiokafka's fetcher re-raises the CancelledError of its own
            # fetch tasks from close(): escaping here, it skipped mode's set_shutdown() and the
            # worker waited out the 60 s shutdown timeout. Only this task's own cancellation
            # goes on up.
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
                raise
            log.warning("the Kafka consumer did not close cleanly: %r", exc)

    AIOKafkaConsumerThread.on_thread_stop = on_thread_stop  # type: ignore[method-assign]
