"""The spike agent across a kill -9 and a restart, on a stand-in Faust app (tests/spike_helpers):
the restarted worker judges the replayed input as the dead one did, and an alert event whose send
failed is sent again, never lost."""

from __future__ import annotations

import json
from typing import Any

import pytest

import agents.recovery
from streams.topics import brand_partition
from tests.spike_helpers import SETTINGS, WATCHLIST, Process, signal, tick
from veille.rules import Watchlist

T = 1_700_000_100  # a bucket boundary, in the past (event times are capped at the clock + 60 s)
Q = brand_partition("acme", SETTINGS.topic_partitions)  # acme's mentions.by_brand partition
SOURCES = range(SETTINGS.topic_partitions)


CATCH_UP_RETRYING = agents.recovery.catch_up_retrying  # the real one (no_broker replaces it)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    async def caught_up(*args: object, **kwargs: object) -> int:
        return 0  # the stand-in tables hold what landed already

    monkeypatch.setattr(agents.recovery, "catch_up_retrying", caught_up)


class Traffic:
    """acme's mentions.by_brand records, spread over the raw partitions in turn."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.offset = 0
        self.sent = [0] * len(SOURCES)
        self.t = T

    def add(self, t: float, negative: bool, text: str = "slow again") -> None:
        p = self.offset % len(SOURCES)
        self.events.append(signal(Q, self.offset, "acme", p=p, o=self.sent[p], t=t, neg=negative,
                                  text=text))
        self.sent[p] += 1
        self.offset += 1

    def buckets(self, n: int, negatives: int = 3) -> None:
        """n ordinary 5-minute buckets: 20 mentions, `negatives` of them negative."""
        for _ in range(n):
            for i in range(20):
                self.add(self.t + i * 10, i < negatives)
            self.t += 300

    def surge(self, n: int = 1) -> None:
        """n buckets of 120 negative mentions."""
        for _ in range(n):
            for i in range(120):
                self.add(self.t + i, True, "outage again #acmedown")
            self.t += 300

    def batches(self) -> list[list[object]]:
        return [self.events[i:i + 500] for i in range(0, len(self.events), 500)]


def test_a_mention_late_before_a_crash_is_late_after_it() -> None:
    """Batch 1 lands (state and watermark) and is committed; batch 2 closes bucket T, then a
    mention of bucket T arrives: late. The worker dies before batch 2's state lands. Rebuilt
    from the records after the committed offset alone, the watermark waited for every source
    again, nothing closed, and the late mention was counted in bucket T."""
    first = [tick(Q, p, p=p, t=T + 10) for p in SOURCES]
    first += [signal(Q, len(first), "acme", p=0, o=0, t=T + 20)]
    first += [tick(Q, len(first) + i, p=p, t=T + 2000) for i, p in enumerate(SOURCES[:-1])]
    n = len(first)
    second = [tick(Q, n, p=SOURCES[-1], t=T + 2000),  # the watermark passes bucket T: closed
              signal(Q, n + 1, "acme", p=1, o=7, t=T + 30)]  # bucket T's, after that: late
    third = [tick(Q, n + 2 + p, p=p, t=T + 4000) for p in SOURCES]

    reference = Process()
    reference.run([first, second, third])
    assert reference.late() == 1

    dead = Process()
    dead.run([first, second, third], killed_after=2)
    assert dead.late() == 1
    landed = dead.log[:dead.saved_at[0]]  # batch 1's writes only; committed offset: batch 2's
    restarted = Process(landed=landed)
    restarted.run([second, third])
    assert restarted.late() == 1
    assert restarted.state() == reference.state()


def test_an_alert_event_whose_send_failed_is_sent_again_in_order() -> None:
    """The broker does not acknowledge the 'opened' event: it is sent again with what followed
    (it was raised out of the agent, whose cached state had applied the batch: never sent)."""
    traffic = Traffic()
    traffic.buckets(300)  # a day of ordinary traffic, then a surge of negative mentions
    traffic.surge()
    traffic.buckets(10)
    batches = traffic.batches()
    reference = Process()
    reference.run(batches)
    story = [e["event"] for e in reference.alerts.sent]
    assert story[:1] == ["opened"], story
    failing = Process(alerts_fail=1)
    failing.run(batches)
    assert [e["event"] for e in failing.alerts.sent] == story
    assert failing.send_errors == 1  # veille_agent_send_errors_total
    assert failing.state() == reference.state()


def test_a_crash_landing_part_of_a_batch_still_judges_the_replay_as_before() -> None:
    """Batch 2's writes are foo's state, then acme's, then the partition's watermark. Killed
    once foo's landed: on replay foo's signal is skipped (its brand state has it), yet it must
    move the restored watermark as it did, or acme's late mention is counted."""
    first = [tick(Q, p, p=p, t=T + 10) for p in SOURCES]
    first += [signal(Q, len(first), "acme", p=0, o=0, t=T + 20)]
    n = len(first)
    second = [signal(Q, n, "foo", p=0, o=1, t=T + 2000)]
    second += [tick(Q, n + 1 + i, p=p, t=T + 2000) for i, p in enumerate(SOURCES[1:])]
    last = n + len(SOURCES)
    second += [signal(Q, last, "acme", p=1, o=7, t=T + 30)]  # late: bucket T is closed
    third = [tick(Q, last + 1 + p, p=p, t=T + 4000) for p in SOURCES]
    reference = Process()
    reference.run([first, second, third])
    assert reference.late() == 1
    dead = Process()
    dead.run([first, second, third], killed_after=2)
    batch = dead.log[dead.saved_at[0]:dead.saved_at[1]]
    foo = next(i for i, w in enumerate(batch) if len(w) > 1 and w[1] == b"foo")
    assert any(len(w) > 1 and w[1].startswith(b"~watermark") for w in batch[foo:])
    restarted = Process(landed=dead.log[:dead.saved_at[0] + foo + 1])
    restarted.run([second, third])
    assert restarted.late() == 1
    assert restarted.state() == reference.state()


def test_an_early_event_sent_before_a_crash_is_sent_again_and_its_story_kept() -> None:
    """Found in review: an early event was sent, then the state saved; killed in between, the
    restarted worker had no story and, judging buckets that had filled meanwhile, no reason to
    open one: consumers kept an alert open for ever, never resolved. Early events are now saved
    with the state (its outbox) before they are sent, and sent again after a reload."""
    from veille.crisis import BrandMonitor

    settings = SETTINGS.with_(spike_early_seconds=1e-6)  # judged at every batch
    fired: list[dict] = []
    real_early = BrandMonitor.early

    def early_once(self: BrandMonitor, now: float) -> list[dict]:
        """The real judgement would not fire on this calm traffic: a story as one opens."""
        if fired or not self.closed_until or self.brand != "acme":
            return []
        start = max(self.open)
        self.story = {"alert_id": f"acme-{start}", "status": "open", "severity": "warning",
                      "opened_at": start, "window_start": start, "anomalous": 0, "quiet": 0,
                      "reopened": 0, "resolved_at": 0, "top": [], "terms": {}, "early": start}
        self.early_events += 1
        fired.append({"schema_version": 1, "alert_id": f"acme-{start}", "brand": "acme",
                      "event": "opened", "status": "open", "severity": "warning",
                      "window_end": str(start + 300), "early": True})
        return list(fired)

    events, sent = [], [0] * len(SOURCES)
    for i in range(12 * 40):  # four hours of calm traffic, all sources in turn
        p = i % len(SOURCES)
        events.append(signal(Q, i, "acme", p=p, o=sent[p], t=T + i * 30, neg=i % 7 == 0))
        sent[p] += 1
    batches = [events[i:i + 40] for i in range(0, len(events), 40)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(BrandMonitor, "early", early_once)
        dead = Process(settings=settings, killed_after_sends=1)
        dead.run(batches)
    assert [e["event"] for e in dead.alerts.sent] == ["opened"] and fired
    killed_in = len(dead.saved_at)  # the batch being handled: not committed
    assert BrandMonitor.early is real_early
    restarted = Process(landed=dead.landed(), settings=settings)
    restarted.run(batches[killed_in:])
    again = restarted.alerts.sent
    assert again[:1] == fired, again  # sent again, first
    # ... and its story went on in the restarted worker: calm buckets resolved it.
    assert [(e["alert_id"], e["event"]) for e in again] == [
        (fired[0]["alert_id"], "opened"), (fired[0]["alert_id"], "resolved")]
    core, _ = restarted.state()
    assert core["outbox"] == [] and core["story"]["status"] == "resolved"


def test_a_brand_taken_off_the_watch_list_mid_crisis_has_its_alert_resolved() -> None:
    """acme's alert is open when the worker restarts with a watch list without acme: its
    silence resolves the story (until 2026-12-05 nothing moved it on: open for ever)."""
    traffic = Traffic()
    traffic.buckets(300)  # a day of ordinary traffic, then a surge of negative mentions
    traffic.surge(2)
    t, offset = traffic.t, traffic.offset
    for p in SOURCES:  # the surge's buckets close
        traffic.events.append(tick(Q, offset, p=p, t=t + 900))
        offset += 1
    first = Process()
    first.run(traffic.batches())
    assert [e["event"] for e in first.alerts.sent][:1] == ["opened"]
    assert first.alerts.sent[-1]["event"] != "resolved"
    landed = [w for w in first.log if len(w) == 3]
    quiet = [[tick(Q, offset + k * len(SOURCES) + p, p=p, t=t + 900 + (k + 1) * 600)
              for p in SOURCES] for k in range(24)]  # four hours of silence, every source live

    without = Watchlist([b for b in WATCHLIST.brands if b.id != "acme"])
    restarted = Process(landed=[(n, k, json.loads(json.dumps(v))) for n, k, v in landed],
                        watchlist=without)
    restarted.run(quiet)
    assert [e["event"] for e in restarted.alerts.sent] == ["resolved"]
    assert restarted.alerts.sent[0]["alert_id"] == first.alerts.sent[0]["alert_id"]
    # and with acme still watched, the same
    kept = Process(landed=[(n, k, json.loads(json.dumps(v))) for n, k, v in landed])
    kept.run(quiet)
    assert [e["event"] for e in kept.alerts.sent] == ["resolved"]


def test_a_watch_list_changed_while_running_is_followed_as_a_restart_would() -> None:
    """The same story without a restart: acme taken off the watch list while its alert is open
    (its gauges go, its silence resolves the alert), and a brand added (its series exported at
    once, its mentions counted and judged)."""
    traffic = Traffic()
    traffic.buckets(300)
    traffic.surge(2)
    t, offset = traffic.t, traffic.offset
    for p in SOURCES:
        traffic.events.append(tick(Q, offset, p=p, t=t + 900))
        offset += 1
    worker = Process()
    worker.run(traffic.batches())
    assert worker.alerts.sent[0]["event"] == "opened"
    assert worker.alerts.sent[-1]["event"] != "resolved"
    told = len(worker.alerts.sent)

    def sample(name: str, brand: str) -> float | None:
        return worker.registry.get_sample_value(name, {"brand": brand})

    assert sample("veille_reputation_alert_state", "acme") in (1, 2)
    zorglub = Watchlist.from_dict({"brands": [{"id": "zorglub", "name": "Zorglub"}]}).brands
    worker.watch(Watchlist([*(b for b in WATCHLIST.brands if b.id != "acme"), *zorglub]))
    assert sample("veille_reputation_alert_state", "acme") is None  # its gauges go at once
    assert sample("veille_reputation_alert_state", "zorglub") == 0  # the new brand's come
    assert sample("veille_reputation_mentions_total", "zorglub") == 0

    quiet = [[tick(Q, offset + k * len(SOURCES) + p, p=p, t=t + 900 + (k + 1) * 600)
              for p in SOURCES] for k in range(24)]
    zq = brand_partition("zorglub", SETTINGS.topic_partitions)
    worker.run([*quiet, [signal(zq, 0, "zorglub", p=0, o=10_000, t=t + 900 + 24 * 600)]])
    assert [e["event"] for e in worker.alerts.sent[told:]] == ["resolved"]
    assert worker.alerts.sent[-1]["alert_id"] == worker.alerts.sent[0]["alert_id"]
    assert sample("veille_reputation_alert_state", "acme") is None  # not watched: not exported
    assert sample("veille_reputation_mentions_total", "zorglub") == 1


def test_a_brand_taken_off_and_added_back_has_its_alert_state_exported_at_once() -> None:
    """acme taken off mid-crisis (its gauges go), then put back before its alert resolved: its
    alert state is exported again at once, as at a restart. Its monitor, cached, was returned
    without the gauge being set: the panel said "no data" until its next alert event."""
    traffic = Traffic()
    traffic.buckets(300)
    traffic.surge(2)
    for p in SOURCES:  # the surge's buckets closed
        traffic.events.append(tick(Q, traffic.offset, p=p, t=traffic.t + 900))
        traffic.offset += 1
    worker = Process()
    worker.run(traffic.batches())
    state = worker.registry.get_sample_value("veille_reputation_alert_state", {"brand": "acme"})
    assert state in (1, 2)
    worker.watch(Watchlist([b for b in WATCHLIST.brands if b.id != "acme"]))
    assert worker.registry.get_sample_value("veille_reputation_alert_state",
                                            {"brand": "acme"}) is None
    worker.watch(WATCHLIST)
    assert worker.registry.get_sample_value("veille_reputation_alert_state",
                                            {"brand": "acme"}) == state


def _an_open_alert_saved() -> tuple[list[tuple[str, bytes, Any]], list[dict[str, Any]], float, int]:
    """acme's surge through a process whose alert is open: what its tables' changelogs hold
    (name, key, value as read back), the alert events it sent (`opened` first), and the event
    time and offset reached."""
    traffic = Traffic()
    traffic.buckets(300)
    traffic.surge(2)
    t, offset = traffic.t, traffic.offset
    for p in SOURCES:  # the surge's buckets close
        traffic.events.append(tick(Q, offset, p=p, t=t + 900))
        offset += 1
    first = Process()
    first.run(traffic.batches())
    sent = first.alerts.sent
    assert sent[0]["event"] == "opened" and sent[-1]["event"] != "resolved"
    landed = [(n, k, json.loads(json.dumps(v))) for n, k, v in (w for w in first.log if len(w) == 3)]
    return landed, sent, t, offset


@pytest.mark.parametrize("bucket", [600, 120])
def test_an_open_alert_survives_a_restart_with_another_bucket_size(bucket: int) -> None:
    """The bucket size changed while acme's alert was open: the detector learns afresh, but the
    story and the clock carry over and the silence resolves the alert. Until 2026-12-06 the
    whole state was dropped: never resolved on reputation.alerts, the alert-state gauge at
    none, and no bucket closed until acme was mentioned again (found in review)."""
    landed, sent, t, offset = _an_open_alert_saved()
    opened = sent[0]
    quiet = [[tick(Q, offset + k * len(SOURCES) + p, p=p, t=t + 900 + k * 600)
              for p in SOURCES] for k in range(25)]  # four hours of silence
    restarted = Process(landed=landed, settings=SETTINGS.with_(spike_bucket_seconds=bucket))
    # The clock where it stood: the state is loaded, nothing closes yet.
    restarted.run(quiet[:1])
    assert restarted.alerts.sent == []
    severity = sent[-1]["severity"]
    state = restarted.registry.get_sample_value("veille_reputation_alert_state", {"brand": "acme"})
    assert state == {"warning": 1, "critical": 2}[severity]  # still open, as on the topic
    restarted.run(quiet[1:])
    assert [(e["alert_id"], e["event"]) for e in restarted.alerts.sent] == [
        (opened["alert_id"], "resolved")]
    assert restarted.registry.get_sample_value("veille_reputation_alert_state",
                                               {"brand": "acme"}) == 0


def test_a_recovery_superseded_by_a_newer_rebalance_changes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust does not cancel an on_recover callback when a newer rebalance supersedes its
    recovery: generation 1 (acme's partition only) still reading its changelog when generation
    2 (every partition) has recovered went on, and rebuilt the state for its old assignment
    under the running agent: boreal's gauges forgotten, its monitor gone (a KeyError out of the
    agent; found in review, 2026-12-05). It now stops and changes nothing."""
    import asyncio

    import agents.recovery as recovery

    gate: list[asyncio.Event] = []

    async def slow_first(table: object, bootstrap: object, partitions: object,
                         **kwargs: object) -> int:
        if len(gate) == 1:  # generation 1's read: held until generation 2 has recovered
            await gate[0].wait()
        return 0

    monkeypatch.setattr(recovery, "catch_up_retrying", CATCH_UP_RETRYING)
    monkeypatch.setattr(recovery, "catch_up", slow_first)
    process = Process()
    [recover] = process.tables["spikes-core"].recover
    boreal = brand_partition("boreal", SETTINGS.topic_partitions)
    assert boreal != Q

    def alert_state(brand: str) -> float | None:
        return process.registry.get_sample_value("veille_reputation_alert_state", {"brand": brand})

    async def scenario() -> None:
        gate.append(asyncio.Event())
        process.assigned = [Q]
        old = asyncio.ensure_future(recover())
        await asyncio.sleep(0.01)
        process.assigned = list(SOURCES)
        gate.append(asyncio.Event())  # generation 2's read is not held
        await recover()
        assert alert_state("boreal") == 0.0
        gate[0].set()
        await old  # returns, superseded: no exception, no change

    asyncio.run(scenario())
    assert alert_state("boreal") == 0.0 and alert_state("acme") == 0.0


@pytest.mark.parametrize("damage", ["newer_detector", "newer_open", "garbled"])
def test_a_state_this_version_cannot_read_does_not_stop_the_worker(
        damage: str, caplog: pytest.LogCaptureFixture) -> None:
    """A rollback: a newer version saved acme's state in a layout this one does not know (a
    detector `version` it has not heard of, an open state without a field it needs), or the
    value is garbled. The worker says so, learns the brand afresh, and the open alert carries
    over and resolves on quiet buckets, as for another bucket size. Until 2026-12-06 the
    ValueError (KeyError, TypeError) left the table's recovery callback: Faust's recovery
    service re-raises it and the worker crashed, at every restart, while the state was there."""
    landed, sent, t, offset = _an_open_alert_saved()
    opened = sent[0]
    for name, key, value in landed:
        if key != b"acme":
            continue
        states = [value] + ([value["open"]] if name == "spikes-core" and value.get("open") else [])
        for state in states:
            if damage == "newer_detector" and "detector" in state:
                state["detector"]["version"] = 99
            elif damage == "newer_open" and "closed_until" in state:
                del state["newest"]
            elif damage == "garbled" and "detector" in state:
                state["detector"]["season"] = "?"
    quiet = [[tick(Q, offset + k * len(SOURCES) + p, p=p, t=t + 900 + k * 300)
              for p in SOURCES] for k in range(25)]
    restarted = Process(landed=landed)
    assert "acme" in caplog.text and "cannot be read" in caplog.text
    severity = sent[-1]["severity"]
    state = restarted.registry.get_sample_value("veille_reputation_alert_state", {"brand": "acme"})
    assert state == {"warning": 1, "critical": 2}[severity]  # still open, as on the topic
    restarted.run(quiet)
    assert [(e["alert_id"], e["event"]) for e in restarted.alerts.sent] == [
        (opened["alert_id"], "resolved")]
    core, _ = restarted.state()
    assert core["detector"]["version"] == 2  # this version's layout from now on


@pytest.mark.parametrize("value", [["not", "a", "dict"], "garbled", 7])
def test_a_saved_value_that_is_no_state_at_all_does_not_stop_the_worker(
        value: Any, caplog: pytest.LogCaptureFixture) -> None:
    """acme's saved states and a partition's watermark replaced by something that is no JSON
    object (a tool writing to the changelog, a future layout): the worker starts, says so, and
    learns acme afresh. Until 2026-12-06 `.get` on it raised AttributeError from the recovery
    callback, which Faust re-raises: the worker crashed at every start."""
    landed, _, t, offset = _an_open_alert_saved()
    damaged = [(name, key, value if key == b"acme" or key.startswith(b"~watermark") else v)
               for name, key, v in landed]
    assert any(key.startswith(b"~watermark") for _, key, _ in landed)
    restarted = Process(landed=damaged)
    assert "acme" in caplog.text and "cannot be read" in caplog.text
    assert restarted.registry.get_sample_value("veille_reputation_alert_state",
                                               {"brand": "acme"}) == 0
    n = offset + 3 * len(SOURCES)
    restarted.run([[tick(Q, offset + k * len(SOURCES) + p, p=p, t=t + 900 + k * 300)
                    for p in SOURCES] for k in range(3)]
                  + [[signal(Q, n, "acme", p=0, o=10_000, t=t + 1800)]])
    _, open_state = restarted.state()
    assert isinstance(open_state, dict) and open_state["brand"] == "acme"  # saved anew
    assert open_state["open"][0]["total"] == 1  # the mention counted, from a fresh state


def test_an_open_record_that_is_no_state_names_itself_and_the_core_stays(
        caplog: pytest.LogCaptureFixture) -> None:
    """Only acme's open-alert record damaged (no JSON object): the warning shows that value
    and does not say the detector starts afresh, since its saved core is used (until
    2026-12-06 it showed the good core and announced a day of warm-up that did not happen)."""
    from streams.topics import SPIKE_OPEN_TABLE

    landed, _, _, _ = _an_open_alert_saved()
    Process(landed=[*landed, (SPIKE_OPEN_TABLE, b"acme", ["garbled"])])
    warning = next(r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage())
    assert "['garbled']" in warning and "afresh" not in warning
