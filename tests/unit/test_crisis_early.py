"""Early firing: a surge alerted while its buckets still fill, not when they close (10 to 15
minutes later), with the same story and nothing learnt from incomplete buckets."""

from __future__ import annotations

import json
from datetime import datetime

from tests.unit.test_crisis import BUCKET, START, _busy_brand, _feed_counts, traffic
from veille.crisis import BrandMonitor, Bucket

SURGE = (START + 3 * 86400 + 11 * 3600, START + 3 * 86400 + 13 * 3600)


def _run(items, early: bool, monitor: BrandMonitor | None = None) -> tuple[BrandMonitor, list]:
    """(monitor, [(newest event time when sent, event)]): early judgement after every mention,
    the clock at the newest mention (a live stream)."""
    m = monitor or BrandMonitor("acme", brand_terms=frozenset({"acme"}))
    out = []
    for item in items:
        events = m.observe(*item)
        if early:
            events += m.early(now=m.newest)
        out.extend((m.newest, e) for e in events)
    return m, out


def _end(e: dict) -> float:
    return datetime.fromisoformat(e["window_end"]).timestamp()


def test_a_surge_is_alerted_while_its_buckets_fill_with_the_story_it_gets_at_closing() -> None:
    items = list(traffic(days=4, surge=SURGE))
    _, late = _run(items, early=False)
    _, early = _run(items, early=True)
    opened_late = next((t, e) for t, e in late if e["event"] == "opened")
    opened_early = next((t, e) for t, e in early if e["event"] == "opened")
    # At closing: once the bucket's end is `lateness` behind the newest mention.
    assert opened_late[0] >= _end(opened_late[1]) + 600
    # Early: while the surge's second bucket still fills, 15 minutes sooner here.
    assert opened_early[0] < _end(opened_early[1]) <= SURGE[0] + 2 * BUCKET
    assert opened_early[1]["early"] is True and "early" not in opened_late[1]
    # The same story: the same events of the same alert, none sent twice.
    assert [(e["alert_id"], e["event"]) for _, e in early] == \
        [(e["alert_id"], e["event"]) for _, e in late] == [
            (opened_late[1]["alert_id"], kind) for kind in ("opened", "escalated", "resolved")]
    assert [e.get("early", False) for _, e in early] == [True, True, False]
    assert opened_early[1]["top_negative_mentions"]


def test_early_firing_learns_nothing_from_incomplete_buckets() -> None:
    items = list(traffic(days=4, surge=SURGE))
    late, _ = _run(items, early=False)
    early, _ = _run(items, early=True)
    assert early.early_events == 2 and early.closes == late.closes
    core_late, core_early = late.core_state(), early.core_state()
    story_early = core_early.pop("story")
    story_late = core_late.pop("story")
    assert core_early == core_late  # detector, usual share, terms: learnt at closing only
    # The same story as at closing (the bucket it was opened early on marked), which also took
    # in the surge's first bucket: anomalous, still open when the story opened early on the
    # second, it closed after (at closing alone it came before the story and opened nothing).
    assert story_early.pop("early") == story_late["window_start"]
    same = ("alert_id", "status", "severity", "opened_at", "window_start", "reopened",
            "resolved_at", "quiet")
    assert {k: story_early[k] for k in same} == {k: story_late[k] for k in same}
    assert story_early["anomalous"] == story_late["anomalous"] + 1
    assert all(story_early["terms"][t] >= n for t, n in story_late["terms"].items())


def test_a_backlog_is_judged_at_closing_only() -> None:
    """Old mentions (a replay, a backlog): the clock far ahead of them, nothing early, so a
    replay gives the events it gives without early firing."""
    m = BrandMonitor("acme")
    events = []
    for item in traffic(days=4, surge=SURGE):
        events += m.observe(*item)
        events += m.early(now=item[1] + 3600)
    assert m.early_events == 0
    assert [e["event"] for e in events] == ["opened", "escalated", "resolved"]


def test_a_story_opened_early_is_not_opened_again_after_a_restart() -> None:
    items = list(traffic(days=4, surge=SURGE))
    first = BrandMonitor("acme")
    cut = None
    before: list = []
    for i, item in enumerate(items):
        before += first.observe(*item)
        before += first.early(now=first.newest)
        if before:
            cut = i + 1
            break
    assert cut is not None and before[0]["event"] == "opened" and before[0]["early"]
    restored = BrandMonitor("acme")
    restored.load_state(json.loads(json.dumps(first.to_state())))
    _, after = _run(items[cut:], early=True, monitor=restored)
    kinds = [e["event"] for e in before] + [e["event"] for _, e in after]
    assert kinds.count("opened") == 1 and kinds[-1] == "resolved", kinds
    assert {e["alert_id"] for _, e in after} == {before[0]["alert_id"]}


def _bucket(start: float, total: int, negative: int) -> Bucket:
    b = Bucket(int(start))
    b.total, b.negative, b.weighted_total, b.weighted_negative = total, negative, total, negative
    return b


def test_an_early_alarm_the_whole_bucket_does_not_bear_out_resolves_as_a_calm_story() -> None:
    """The share test on a bucket's first mentions (all negative) opens a story early; the rest
    of the bucket brings the share back to usual: the story resolves after `resolve_buckets`
    quiet buckets of its own (the two ordinary buckets before it, still open then, do not
    count in it)."""
    m = BrandMonitor("acme")
    assert _feed_counts(m, _busy_brand(3, seed=1)) == []
    t = START + 3 * 86400
    assert m.closed_until == t
    m.open = {t: _bucket(t, 4000, 600), t + BUCKET: _bucket(t + BUCKET, 4000, 600),
              t + 2 * BUCKET: _bucket(t + 2 * BUCKET, 400, 400)}  # a wave's first 400
    m.newest = t + 2 * BUCKET + 60
    assert m.early(now=m.newest + 3600) == []  # not live: judged at closing only
    events = m.early(now=m.newest + 1)
    assert [(e["event"], e["early"]) for e in events] == [("opened", True)]
    assert _end(events[0]) == t + 3 * BUCKET and events[0]["observed_negative"] == 400
    assert m.early(now=m.newest + 2) == []  # nothing new: not judged again
    # The whole bucket: 4,000 mentions at the usual share.
    m.open[t + 2 * BUCKET] = _bucket(t + 2 * BUCKET, 4000, 600)
    tail = m.advance(t + 3 * BUCKET + m.config.lateness_seconds)
    assert tail == []  # two buckets before the story's, one quiet bucket of it
    tail = _feed_counts(m, [(4000, 600)] * 3, start=t + 3 * BUCKET)
    assert [e["event"] for e in tail] == ["resolved"], tail
    assert tail[0]["alert_id"] == events[0]["alert_id"]
    assert _end(tail[0]) == t + 5 * BUCKET  # its third quiet bucket


def test_open_buckets_held_by_a_backlog_are_not_judged_early() -> None:
    """A partition hours ahead of another (a backlog read in partition batches): the brand's
    newest mention is live, but its older buckets wait for the slow partition. What they hold
    depends on how the reads interleave: judged early, a replay would not give the same alerts
    (found by the crash test: an early "opened" in one run, not in the other)."""
    items = list(traffic(days=4, surge=SURGE))
    cut = next(i for i, it in enumerate(items) if it[1] > SURGE[0] + 600)
    m, _ = _run(items[:cut], early=False)
    newest = items[cut][1] + 3 * 3600
    m.observe("ahead", newest, True, 10, "panne", advance=False)  # the fast partition
    assert min(m.open) < newest - 3600
    assert m.early(now=newest) == [] and m.early_events == 0
    # Once the slow partition catches up, the buckets close as usual and the story opens.
    events = []
    for item in items[cut:]:
        if item[1] < newest:
            events += m.observe(*item, advance=False)
    events += m.advance(newest)
    assert [e["event"] for e in events][:1] == ["opened"]


def test_a_wave_landing_late_in_the_bucket_before_an_early_story_counts_in_it() -> None:
    """Found in review: a story opened early on bucket B (its first mentions all negative);
    the bucket before, A, still open, then got the real wave late (an RSS poll): at closing
    the story skipped A, so the crisis was never escalated. Now A counts in the story (its
    mentions, the escalation), as an anomalous bucket, never as a quiet one."""
    m = BrandMonitor("acme")
    assert _feed_counts(m, _busy_brand(3, seed=1)) == []
    a = START + 3 * 86400
    b = a + BUCKET
    m.open = {a: _bucket(a, 1500, 220), b: _bucket(b, 400, 400)}
    m.newest = b + 60
    early = m.early(now=m.newest + 1)
    assert [(e["event"], _end(e)) for e in early] == [("opened", b + BUCKET)]
    m.open[a] = _bucket(a, 4000, 3000)  # the wave, late
    m.open[b] = _bucket(b, 4000, 600)
    events = m.advance(b + BUCKET + m.config.lateness_seconds)
    assert [(e["event"], e["severity"], e["alert_id"]) for e in events] == [
        ("escalated", "critical", early[0]["alert_id"])]
    assert m.story is not None and m.story["severity"] == "critical"


def test_mentions_dated_ahead_of_the_clock_are_not_judged_early() -> None:
    """Found in review: mentions dated 50 minutes ahead (accepted up to
    VEILLE_MAX_FUTURE_SECONDS) had their future bucket judged early: a story opened with a
    window in the future, ignoring the real surge of the present buckets."""
    items = list(traffic(days=4, surge=SURGE))
    m = BrandMonitor("acme")
    events: list = []
    skewed = False
    for item in items:
        now = item[1]
        if not skewed and now >= SURGE[0]:
            for i in range(25):
                m.observe(f"skew{i}", now + 3000, True, 100, "panne", advance=False)
            skewed = True
        events += m.observe(*item, advance=False)
        events += m.advance(min(m.newest, now + 60))
        events += m.early(now=now)
    opened = [e for e in events if e["event"] == "opened"]
    assert len(opened) == 1 and opened[0]["early"], opened
    assert SURGE[0] < _end(opened[0]) <= SURGE[0] + 2 * BUCKET  # the present's surge


def test_a_surge_as_a_story_is_about_to_resolve_keeps_it_open_and_escalates_early() -> None:
    """Found in review: a warning story one quiet bucket from resolving, then a wave: the copy
    resolved the story on the older bucket and early firing stopped there; the wave came at
    closing as a resolution and a re-opening. Now the story goes on: the escalation is sent
    early, and no resolution and re-opening come at closing."""
    m = BrandMonitor("acme")
    assert _feed_counts(m, _busy_brand(3, seed=1)) == []
    t = START + 3 * 86400
    before = _feed_counts(m, [(4000, 1400)] + [(4000, 600)] * 3, start=t)
    assert [e["event"] for e in before] == ["opened"]
    assert m.story is not None and m.story["quiet"] == 2
    a, b = t + 4 * BUCKET, t + 5 * BUCKET
    m.open = {a: _bucket(a, 4000, 600), b: _bucket(b, 2000, 1800)}
    m.newest = b + 150
    early = m.early(now=m.newest)
    assert [(e["event"], e["severity"], e["early"]) for e in early] == [
        ("escalated", "critical", True)]
    assert early[0]["alert_id"] == before[0]["alert_id"]
    assert m.advance(b + BUCKET + m.config.lateness_seconds) == []
    assert m.story["status"] == "open" and m.story["severity"] == "critical"
