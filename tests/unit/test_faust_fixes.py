"""veille.faust_fixes on Faust's own classes: the producer buffer's flush waits for every table
write to be handed to the Kafka client, however slowly the client takes them."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from veille import faust_fixes


def test_the_producer_buffers_flush_waits_for_slow_hand_overs() -> None:
    """aiokafka takes 0.3 s to accept each message (waiting for metadata, or for room in its
    accumulator): Faust's flush gave up after 0.1 s without one handed over, and did not count
    the one being handed over, so offsets could be committed before those writes."""
    faust_fixes.install()
    handed: list[int] = []

    class Channel:
        async def publish_message(self, fut: Any, wait: bool = False) -> None:
            await asyncio.sleep(0.3)
            handed.append(fut.n)

    async def scenario() -> tuple[float, list[int]]:
        buffer = ProducerBuffer()
        buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
        await buffer.start()
        try:
            channel = Channel()
            for n in range(4):
                buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=channel)))
            await asyncio.sleep(0)
            started = time.monotonic()
            await buffer.flush()
            took, at_flush = time.monotonic() - started, list(handed)
            while len(handed) < 4:  # (so that the buffer stops empty whatever flush did)
                await asyncio.sleep(0.05)
            return took, at_flush
        finally:
            await buffer.stop()

    took, at_flush = asyncio.run(scenario())
    assert at_flush == [0, 1, 2, 3], at_flush
    assert took >= 0.9


def test_the_flush_raises_when_the_buffer_crashed_with_writes_left() -> None:
    """A send raising in the buffer's task crashes it: a flush waiting then must not return
    as if all were written (a commit would go ahead of the writes left)."""
    faust_fixes.install()

    class Channel:
        async def publish_message(self, fut: Any, wait: bool = False) -> None:
            await asyncio.sleep(0.1)
            if fut.n == 0:
                raise RuntimeError("send 0 failed")

    async def scenario() -> str:
        buffer = ProducerBuffer()
        buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))
        await buffer.start()
        channel = Channel()
        for n in range(3):
            buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=channel)))
        await asyncio.sleep(0)
        try:
            await asyncio.wait_for(buffer.flush(), 10)
            outcome = "returned"
        except RuntimeError as exc:
            outcome = str(exc)
        try:
            await asyncio.wait_for(buffer.stop(), 5)
        except RuntimeError:
            pass  # its own flush on stop says the same
        return outcome

    assert asyncio.run(scenario()) == "Cannot flush: Producer not Running"


def test_a_revocation_commits_the_acknowledged_offsets_before_faust_forgets_them() -> None:
    """Faust's Consumer.on_partitions_revoked dropped the acks of the revoked partitions before
    the app's revocation handler committed, and aiokafka revokes the whole assignment on every
    rebalance: what was acked since the last timer commit (2.8 s) was read again, even on a
    partition the worker kept."""
    from faust.types import TP

    faust_fixes.install()
    tp0, tp1 = TP("moderation.queue", 0), TP("moderation.queue", 1)
    committed: list[dict[TP, int]] = []
    seen_by_app_handler: list[dict[TP, Any]] = []

    async def scenario() -> None:
        async def _commit(offsets: Any) -> bool:
            committed.append(dict(offsets))
            return True

        async def app_handler(revoked: Any) -> None:  # App._on_partitions_revoked: wait_empty
            seen_by_app_handler.append({tp: list(consumer._acked.get(tp, ())) for tp in revoked})
            await consumer.commit()

        consumer = _revoking("revoke-commit-test", _commit, app_handler, (tp0, tp1))
        await consumer.on_partitions_revoked({tp0, tp1})

    asyncio.run(scenario())
    assert {tp0: 110} in committed, (committed, seen_by_app_handler)



def test_a_revocation_does_not_wait_for_ever_on_a_commit_the_broker_does_not_answer() -> None:
    """aiokafka's commit_offsets retries until the group coordinator answers (a broker gone or
    frozen once the rebalance began: each attempt up to the 90 s request timeout, then a wait for
    the coordinator). The commit before the revocation waited as long: the member could not
    rejoin within the rebalance timeout, and a stop's own commit waited on it (Consumer.commit
    waits for the commit running), so the worker ended only by the stop watchdog's exit. It is
    given at most the rebalance timeout, after which the group has moved on without the member
    anyway; its records are then read again, as before the fix."""
    from faust.types import TP

    faust_fixes.install()
    tp0 = TP("moderation.queue", 0)
    handled: list[str] = []

    async def scenario() -> tuple[float, bool]:
        async def _commit(offsets: Any) -> bool:  # the broker never answers
            await asyncio.Event().wait()
            return True

        async def app_handler(revoked: Any) -> None:
            handled.append("app handler")

        consumer = _revoking("revoke-bound-test", _commit, app_handler, (tp0,),
                             broker_rebalance_timeout=0.5)
        started = time.monotonic()
        try:
            await asyncio.wait_for(consumer.on_partitions_revoked({tp0}), 5)
        except TimeoutError:
            return time.monotonic() - started, False
        took = time.monotonic() - started
        # A stop's commit (Consumer.on_stop) does not wait on the abandoned one.
        await asyncio.wait_for(consumer.commit(), 1)
        return took, True

    took, returned = asyncio.run(scenario())
    assert returned, f"the revocation still waited for the commit after {took:.1f} s"
    assert took < 2, took
    assert handled == ["app handler"]


def test_a_revocation_cancelled_while_a_commit_runs_stays_cancelled() -> None:
    """Faust's maybe_wait_for_commit_to_finish swallows the CancelledError of the task waiting
    for the commit running (the timer's): the revocation, cancelled there (a stop), went on to
    commit and to run the app's handler as if nothing had happened."""
    from faust.types import TP

    faust_fixes.install()
    tp0 = TP("moderation.queue", 0)
    handled: list[str] = []

    async def scenario() -> tuple[bool, list[str]]:
        async def _commit(offsets: Any) -> bool:
            handled.append("commit")
            return True

        async def app_handler(revoked: Any) -> None:
            handled.append("app handler")

        consumer = _revoking("revoke-cancel-test", _commit, app_handler, (tp0,))
        timer_commit = asyncio.get_running_loop().create_future()
        consumer._commit_fut = timer_commit  # the timer's commit is running
        task = asyncio.ensure_future(consumer.on_partitions_revoked({tp0}))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.wait([task], timeout=1)
        return task.cancelled(), list(handled)

    cancelled, seen = asyncio.run(scenario())
    assert cancelled, seen
    assert seen == [], seen

async def _noop() -> None:
    return None


def _revoking(app_id: str, commit: Any, app_handler: Any, assigned: tuple[Any, ...],
              **conf: Any) -> Any:
    """Faust's consumer of a new app (made in the running loop), as a revocation finds it:
    partitions `assigned`, each last committed at offset 100 (the timer's commit), 100-109 of
    the first handled and acknowledged since (an agent reads its topic); `commit` stands for
    the broker's commit, `app_handler` for App._on_partitions_revoked."""
    import faust

    app = faust.App(app_id, broker="kafka://127.0.0.1:1", web_enabled=False, **conf)
    consumer = app.consumer
    app._producer = SimpleNamespace(flush=_noop)  # (nothing was sent)
    app.topics._acking_topics.add(assigned[0].topic)
    consumer._commit = commit
    consumer.assignment = lambda: set(assigned)
    consumer._on_partitions_revoked = app_handler
    for tp in assigned:
        consumer._committed_offset[tp] = 100
    for offset in range(100, 110):
        consumer.ack(_Message(assigned[0], offset))
    return consumer


class _Message:
    """What Consumer.ack reads of a message (hashable, weakly referenced as Faust's are)."""

    def __init__(self, tp: Any, offset: int) -> None:
        self.tp, self.topic, self.offset, self.acked = tp, tp.topic, offset, False
