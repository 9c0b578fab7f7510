"""The backlog gauges' refresh keeps its share of the event loop bounded."""

from __future__ import annotations

from agents.moderation import Pacer


def test_a_cheap_job_runs_every_time_a_costly_one_less_often() -> None:
    pacer = Pacer(share=0.02)
    assert pacer.due(0.0)
    pacer.ran(0.0, 0.001)  # 1 ms: due again after 50 ms, i.e. at every 1-second tick
    assert pacer.due(1.0)
    pacer.ran(1.0, 1.145)  # 145 ms (300,000 pending cases): next run 7.25 s after it started
    assert not pacer.due(2.0) and not pacer.due(8.0)
    assert pacer.due(8.25)
    # Over a long run the job's time stays within its share of the clock.
    pacer, busy, now = Pacer(share=0.02), 0.0, 0.0
    for _ in range(10_000):
        if pacer.due(now):
            pacer.ran(now, now + 0.145)
            busy += 0.145
        now += 1.0
    assert busy / now <= 0.02 + 0.145 / now
