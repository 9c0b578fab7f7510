"""Spike agent: mentions.by_brand -> per-brand buckets, detector, alert story -> reputation.alerts.

mentions.by_brand is written by the enrichment stage (agents/enrich.py), one compact record per
(mention, brand) on the brand's partition (streams.records.brand_signal), so each brand's state
lives on one worker."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeGuard

from agents.recovery import Recoveries
from streams.topics import (
    SPIKE_CORE_TABLE,
    SPIKE_OPEN_TABLE,
    Topics,
    brand_partition,
    changelog_configs,
    key_partition,
)
from veille import __version__
from veille.crisis import BrandMonitor, CrisisConfig, StateMismatch, Watermark, brand_terms
from veille.metrics import ALERT_STATE, SpikeMetrics
from veille.rules import Watchlist
from veille.settings import Settings

log = logging.getLogger(__name__)
#: Mentions taken per batch, and the longest a batch waits to fill (adds at most this latency).
BATCH = 500
BATCH_SECONDS = 0.05


class Signal(NamedTuple):
    """One mentions.by_brand record (streams.records.brand_signal), checked."""

    id: str
    t: float
    neg: bool
    aud: int
    text: str
    p: int
    o: int


class Tick(NamedTuple):
    """One mentions.by_brand tick (streams.records.source_tick), checked."""

    at: float
    p: int
    t: float | None
    live: bool
    quiet: bool


#: What this version reads of an alert story carried over from a state it could not load.
STORY_KEYS = frozenset(BrandMonitor._new_story("", 0))


def _number(v: Any) -> TypeGuard[float]:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def parse_signal(value: bytes | None) -> Signal | Tick:
    """A mentions.by_brand record (a signal, or a tick), or ValueError saying what is wrong
    with it. The topic is veille's own, but a foreign producer or a bug upstream must not stop
    the agent."""
    s = json.loads(value or b"")
    if not isinstance(s, dict):
        raise ValueError("not a JSON object")
    if "tick" in s:
        at, p, t = s["tick"], s.get("p"), s.get("t")
        if not _number(at) or (t is not None and not _number(t)):
            raise ValueError("tick and t must be finite numbers of epoch seconds")
        if isinstance(p, bool) or not isinstance(p, int) or p < 0:
            raise ValueError("p must be a partition number")
        if not isinstance(s.get("live"), bool) or not isinstance(s.get("quiet"), bool):
            raise ValueError("live and quiet must be true or false")
        return Tick(float(at), p, None if t is None else float(t), s["live"], s["quiet"])
    t, aud, p, o = s.get("t"), s.get("aud", 0), s.get("p", 0), s.get("o", -1)
    if not isinstance(s.get("id"), str):
        raise ValueError("id must be a string")
    if not _number(t):
        raise ValueError("t must be a finite number of epoch seconds")
    if not isinstance(s.get("neg"), bool):
        raise ValueError("neg must be true or false")
    for name, v in (("aud", aud), ("p", p), ("o", o)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{name} must be an integer")
    text = s.get("text")
    return Signal(s["id"], float(t), s["neg"], max(0, aud), text if isinstance(text, str) else "",
                  max(0, p), o)


def watermark_key(partition: int, partitions: int) -> bytes:
    """The open table's key holding the watermark of mentions.by_brand partition `partition`:
    one that the table's partitioner puts on that partition, beside its brands' states (so
    written after them, it never lands without them). `~` is in no brand id."""
    n = 0
    while key_partition(key := f"~watermark-{n}".encode(), partitions) != partition:
        n += 1
    return key


def install(app: Any, topics: Topics, watchlist: Watchlist, metrics: SpikeMetrics,
            settings: Settings, config: CrisisConfig | None = None,
            send_errors: Any = None) -> Callable[[Watchlist], None]:
    """Register the spike agent, its tables and the bucket-closing timer. `send_errors`: a
    counter of failed sends (veille_agent_send_errors_total), counting alert events the
    broker did not acknowledge (each sent again until it does). Returns the function taking
    a changed watch list while running."""
    config = config or CrisisConfig(bucket_seconds=settings.spike_bucket_seconds,
                                    lateness_seconds=settings.spike_lateness_seconds)
    names = brand_terms(watchlist)
    known = set(watchlist.brand_ids)
    # Each brand's time zone (its detector's hours and days): the watch list's, else VEILLE_TIMEZONE.
    zones = {b.id: b.timezone or settings.timezone for b in watchlist.brands}
    # Keys are the brand id bytes, as on mentions.by_brand: with use_partitioner the changelog
    # partition is the brand's partition, so the timer may write outside a stream event.
    open_table = app.Table(SPIKE_OPEN_TABLE, default=None, use_partitioner=True,
                           partitions=settings.topic_partitions, key_type=bytes,
                           extra_topic_configs=changelog_configs(settings))
    core_table = app.Table(SPIKE_CORE_TABLE, default=None, use_partitioner=True,
                           partitions=settings.topic_partitions, key_type=bytes,
                           extra_topic_configs=changelog_configs(settings))
    open_table.key_serializer = core_table.key_serializer = "raw"
    home_of = {brand: brand_partition(brand, settings.topic_partitions) for brand in known}
    monitors: dict[str, tuple[BrandMonitor, int]] = {}  # brand -> (monitor, revision saved)
    # Early firing (BrandMonitor.early): each brand's open buckets judged at most this often.
    early_every = settings.spike_early_seconds
    early_at: dict[str, float] = {}  # brand -> monotonic time of its last early judgement
    early_due: set[str] = set()  # brands with mentions since their last early judgement
    # Alert events saved with the brand's state before they are sent (its "outbox"): early
    # events (they come from how full the buckets were when judged: replaying the input would
    # not give them again), with the closing events of the same batch (the state saved with
    # them has the batch applied). Reloaded after a crash, they are sent again, first.
    early_events: dict[str, list[dict[str, Any]]] = {}  # brand -> this batch's early events
    reloaded: dict[str, list[dict[str, Any]]] = {}  # brand -> outbox found in its saved state
    # One watermark per mentions.by_brand partition, over the raw partitions feeding it (the
    # enrichment stage writes each raw partition's signals, then its ticks, in its order).
    watermarks: dict[int, Watermark] = {}
    homes: dict[str, int] = {}  # brand -> its mentions.by_brand partition
    owning: set[int] = set()  # the mentions.by_brand partitions owned since the last recovery
    core_seqs: dict[str, int] = {}  # brand -> sequence number of its last saved core state
    # Each partition's watermark is saved too, with the offset of the last record applied to
    # it (after the batch's brand states, in the same changelog partition, so it never lands
    # without them). Rebuilt from the records after the committed offset instead, it was not
    # the one the input had been judged by: a mention late before a crash was counted after it.
    wm_at: dict[int, int] = {}  # partition -> offset of the last record applied to its watermark
    moved: set[int] = set()  # partitions whose watermark changed in the batch
    wm_keys = {q: watermark_key(q, settings.topic_partitions)
               for q in range(settings.topic_partitions)}

    recoveries = Recoveries()  # a superseded recovery stops and changes nothing

    @core_table.on_recover
    async def complete_recovery() -> None:
        """After every rebalance: read both changelogs to their real end (see recovery.py),
        drop cached monitors (another worker may have moved them on), and stop exporting the
        gauges of brands this worker no longer owns."""
        from agents.recovery import Superseded, catch_up_retrying

        current = recoveries.start()

        name = topics.by_brand.get_topic_name()
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == name}
        try:
            for table in (open_table, core_table):
                await catch_up_retrying(table, settings.kafka_client_options(), owned,
                                        decode=json.loads, current=current)
        except Superseded:
            log.info("spikes: recovery for partitions %s superseded by a newer rebalance",
                     sorted(owned))
            return
        # From here on, nothing awaits: the state below is this generation's, whole.
        log.info("spikes: owning %s partitions %s", name, sorted(owned))
        monitors.clear()
        reloaded.clear()
        core_seqs.clear()
        watermarks.clear()
        wm_at.clear()
        moved.clear()
        homes.clear()
        for q in sorted(owned):
            saved = open_table.get(wm_keys[q]) if q in wm_keys else None
            # Saved with another partition count, the key may be another partition's.
            if isinstance(saved, dict) and saved.get("partitions") == settings.topic_partitions:
                try:
                    watermarks[q] = Watermark.from_state(saved["wm"])
                    wm_at[q] = int(saved["at"])
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("spikes: saved watermark of partition %s unreadable (%r); "
                                "rebuilt from the input", q, exc)
        owning.clear()
        owning.update(owned)
        place()

    def place() -> None:
        """The brands of the owned partitions moved on by the ticks: the watched ones, and those
        no longer watched with an alert still open."""
        for brand in sorted(known):
            home = brand_partition(brand, settings.topic_partitions)
            if home not in owning:
                metrics.forget(brand)
            else:  # its gauges (an open alert's state) exported again at once, not on its
                # next mention, which may be hours away: cached too (a brand put back on the
                # watch list, its gauges forgotten when it was taken off)
                export_state(brand, monitor_for(brand))
                homes[brand] = home
        # A brand taken off the watch list (or renamed) in the middle of a crisis: its story
        # is moved on by the ticks, and resolves on its silence, instead of staying open on
        # reputation.alerts for ever (until 2026-12-05 nothing moved a brand no longer watched).
        for key in list(core_table.keys()):
            brand = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
            home = brand_partition(brand, settings.topic_partitions)
            if brand in known or home not in owning:
                continue
            story = monitor_for(brand).story
            if story is not None and story["status"] != "resolved":
                log.info("spikes: %s is not watched any more; its open alert resolves on its "
                         "silence", brand)
                homes[brand] = home
            else:
                homes.pop(brand, None)

    def watch(watchlist: Watchlist) -> None:
        """A changed watch list, while running: as a restart with it would, a new brand is
        watched from its first mention (its gauges exported at once where its partition is
        owned), a brand taken off is not (its gauges go; an alert of it still open resolves on
        its silence), and a brand's names and time zone apply to its detector from now on."""
        names.clear()
        names.update(brand_terms(watchlist))
        for brand in known - set(watchlist.brand_ids):
            metrics.forget(brand)
        known.clear()
        known.update(watchlist.brand_ids)
        zones.clear()
        zones.update({b.id: b.timezone or settings.timezone for b in watchlist.brands})
        home_of.clear()
        home_of.update({brand: brand_partition(brand, settings.topic_partitions) for brand in known})
        metrics.watch(watchlist.brand_ids)
        for brand, (m, _) in monitors.items():
            m.rewatch(names.get(brand, frozenset()), zones.get(brand, settings.timezone))
        place()

    def new_monitor(brand: str) -> BrandMonitor:
        return BrandMonitor(brand, config, brand_terms=names.get(brand, frozenset()),
                            timezone=zones.get(brand, settings.timezone))

    def fresh_monitor(brand: str, core: Any, open_state: Any) -> BrandMonitor:
        """A monitor learning afresh, with the open alert and the clock of the state it could
        not load carried over when they can be read."""
        m = new_monitor(brand)
        try:
            m.carry_over(core, open_state)
            story = m.story  # of a newer layout, it must still have what this version reads
            if story is not None and not (isinstance(story, dict)
                                          and story.keys() >= STORY_KEYS
                                          and story["status"] in ("open", "resolved")
                                          and story["severity"] in ("warning", "critical")):
                raise ValueError(f"an alert story this version cannot follow: {story!r:.200}")
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            log.warning("spikes: %s: neither its open alert nor its clock could be read from "
                        "its saved state (%r); started with none", brand, exc)
            m = new_monitor(brand)
        return m

    def monitor_for(brand: str) -> BrandMonitor:
        if brand in monitors:
            return monitors[brand][0]
        m = new_monitor(brand)
        key = brand.encode()
        saved_open, saved_core = open_table.get(key), core_table.get(key)
        if not isinstance(saved_core, (dict, type(None))) or not isinstance(saved_open, (dict, type(None))):
            # No JSON object at all (a tool writing to the changelog, a layout to come): until
            # 2026-12-06 `.get` on it raised from the recovery callback, a crash at every start.
            core_bad = not isinstance(saved_core, (dict, type(None)))
            log.warning("spikes: %s: its saved state cannot be read by veille %s (not a JSON "
                        "object: %.100r); %s", brand, __version__,
                        saved_core if core_bad else saved_open,
                        "the brand's detector starts afresh (a day of warm-up)" if core_bad
                        else "its open-alert record is ignored, its saved detector used")
            saved_open = saved_open if isinstance(saved_open, dict) else None
            saved_core = saved_core if isinstance(saved_core, dict) else None
        core_seq = -1
        open_state = None
        if saved_core is not None:
            core_seq = saved_core.get("seq", -1)
            if not isinstance(core_seq, int) or isinstance(core_seq, bool):
                core_seq = -1
            open_state = saved_core.get("open")
        # An open-table record is newer than the core it builds on only if it names it: a
        # record written before the last core (or for a core lost in a crash) is ignored.
        if saved_open is not None and saved_open.get("core_seq", -1) == core_seq:
            open_state = saved_open
        try:
            if saved_core is not None:
                m.load_core(saved_core)
            if open_state is not None:
                m.load_open(open_state)
        except StateMismatch as exc:  # VEILLE_SPIKE_BUCKET_SECONDS changed: learnt afresh
            log.warning("spikes: %s; the brand's detector starts afresh (a day of warm-up); "
                        "an open alert carries over and resolves on quiet buckets", exc)
            m = fresh_monitor(brand, saved_core, open_state)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # A state this version cannot read: saved by a newer one (a rollback: a detector
            # `version` it does not know, a field moved) or garbled. Until 2026-12-06 the error
            # left the tables' recovery callback, which Faust's recovery re-raises: the worker
            # crashed at every start while the state was there.
            log.warning("spikes: %s: its saved state cannot be read by veille %s (%r: saved by "
                        "a newer version?); the brand's detector starts afresh (a day of "
                        "warm-up); an open alert carries over and resolves on quiet buckets",
                        brand, __version__, exc)
            m = fresh_monitor(brand, saved_core, open_state)
        core_seqs[brand] = core_seq
        outbox = saved_core.get("outbox") if saved_core is not None else None
        if outbox:  # saved, maybe not sent, before a crash: sent again (de-duplicated downstream)
            reloaded[brand] = list(outbox)
        export_state(brand, m)
        monitors[brand] = (m, m.revision)
        return m

    def export_state(brand: str, m: BrandMonitor) -> None:
        if brand in known:  # "none" too: a calm brand's panel says so, not "no data"
            story = m.story
            state = story["severity"] if story is not None and story["status"] != "resolved" \
                else "none"
            metrics.alert_state.labels(brand).set(ALERT_STATE[state])

    def save_core(brand: str, m: BrandMonitor, outbox: list[dict[str, Any]]) -> None:
        """The whole state in one record (the two tables' changelogs are separate topics, and
        a crash may land one write and not the other), with the events in `outbox`."""
        core_seqs[brand] = core_seqs.get(brand, -1) + 1
        core_table[brand.encode()] = {**m.core_state(), "open": m.open_state(),
                                      "seq": core_seqs[brand], "outbox": outbox}
        monitors[brand] = (m, m.revision)

    async def publish(brand: str, m: BrandMonitor, events: Iterable[dict[str, Any]]) -> None:
        """Send the alert events, wait for the broker to hold them, then save the state: a
        crash in between replays the input and re-sends the same events (same alert_id, event
        and window_end: consumers de-duplicate on them), it never loses one.

        Early events (BrandMonitor.early) are the exception: replaying the input would not
        give them again (they come from how full the buckets were when judged), so they are
        saved first, with the state they changed, in its outbox, and sent after; an outbox
        found in a reloaded state is sent again before anything else."""
        key = brand.encode()
        events = list(events)
        first, early = reloaded.pop(brand, []), early_events.pop(brand, [])
        if first or early:
            events = first + events + early
            save_core(brand, m, events)
            await app.producer.flush()  # held by the broker before any of them is sent
        await send_acknowledged(key, [json.dumps(e).encode() for e in events])
        if first or early or m.revision != monitors[brand][1]:
            # Sent: an empty outbox (not flushed: lost in a crash, the events go out twice).
            # Or a bucket closed: the whole state, flushed before any later open-state record
            # that builds on it can be written.
            save_core(brand, m, [])
            if not (first or early):
                await app.producer.flush()
            for report in m.reports:
                observe_bucket(report)
        else:
            open_table[key] = {**m.open_state(), "core_seq": core_seqs.get(brand, -1)}
        m.reports.clear()
        for event in events:
            observe_alert(event)

    async def send_acknowledged(key: bytes, values: list[bytes]) -> None:
        """Send `values` one after the other, each once the broker holds the one before, with
        retries and a backoff, never raising. Raised out of the agent, the batch was lost
        (Faust restarts the agent, whose cached monitors had applied it: its events were never
        sent); sent together, a failed "opened" could land after the "escalated" behind it.
        Alert events are few: waiting for each costs nothing that matters."""
        for value in values:
            backoff = 0.5
            while True:
                try:
                    await (await topics.alerts.send(key=key, value=value))
                    break
                except Exception as exc:  # noqa: BLE001
                    if send_errors is not None:
                        send_errors.inc()
                    log.warning("spikes: alert event of %s not acknowledged (%r); sent again "
                                "in %.1f s", key.decode(errors="replace"), exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)

    def observe_bucket(r: Any) -> None:
        if r.brand not in known:
            return
        metrics.buckets.labels(r.brand).inc()
        metrics.score.labels(r.brand).set(r.score.anomaly_score)
        metrics.observed.labels(r.brand).set(r.negative)
        metrics.expected.labels(r.brand).set(r.expected)
        metrics.share.labels(r.brand).set(r.negative / r.total if r.total else 0.0)

    def observe_alert(e: dict[str, Any]) -> None:
        brand = e["brand"]
        if brand not in known:
            return
        if e["event"] in ("opened", "reopened"):
            metrics.alerts_opened.labels(brand, e["severity"]).inc()
        if e["event"] == "escalated":
            metrics.escalations.labels(brand).inc()
        state = "none" if e["status"] == "resolved" else e["severity"]
        metrics.alert_state.labels(brand).set(ALERT_STATE[state])

    @app.agent(topics.by_brand, name="spikes")
    async def spikes(stream: Any) -> None:
        # Batches: the state of each brand a batch touched is saved once per batch (one
        # changelog record, not one per mention), before the batch's offsets are acknowledged.
        async for batch in stream.take_events(BATCH, within=BATCH_SECONDS):
            pending: dict[str, list[dict[str, Any]]] = {}
            for event in batch:
                try:
                    if not event.key:
                        for brand, events in tick(event).items():
                            pending.setdefault(brand, []).extend(events)
                        continue
                    brand = event.key.decode()
                    events = apply(brand, event)
                except Exception:  # one bad record must not cost the batch its alert events
                    log.exception("spikes: record at %s:%s skipped", event.message.partition,
                                  event.message.offset)
                    continue
                pending.setdefault(brand, []).extend(events)
            if early_every > 0:
                # Brands with mentions since their last early judgement are judged again once
                # `early_every` has passed: in this batch, or a later one (ticks come every few
                # seconds on every partition, so a later batch always comes).
                early_due.update(b for b in pending if b in monitors)
                tick_at, wall = time.monotonic(), time.time()
                for brand in sorted(early_due):
                    if tick_at - early_at.get(brand, -early_every) >= early_every:
                        early_at[brand] = tick_at
                        early_due.discard(brand)
                        if brand in monitors:  # still this worker's
                            found = monitors[brand][0].early(wall)
                            if found:
                                early_events.setdefault(brand, []).extend(found)
                                pending.setdefault(brand, [])
            # An outbox reloaded after a crash goes out with the next batch (ticks bring one
            # every few seconds), even for a brand without news.
            for brand in reloaded:  # (a monitor was loaded for each: monitor_for)
                pending.setdefault(brand, [])
            for brand, events in pending.items():
                await publish(brand, monitors[brand][0], events)
            for q in sorted(moved):  # after the brand states (see wm_at)
                open_table[wm_keys[q]] = {"v": 1, "wm": watermarks[q].to_state(), "at": wm_at[q],
                                          "partitions": settings.topic_partitions}
            moved.clear()

    def watermark(partition: int) -> Watermark:
        wm = watermarks.get(partition)
        if wm is None:
            wm = watermarks[partition] = Watermark(range(settings.topic_partitions))
        return wm

    def unreadable(event: Any, why: Any) -> None:
        log.error("spikes: unreadable mentions.by_brand record at %s:%s (%s); skipped",
                  event.message.partition, event.message.offset, why)

    def apply(brand: str, event: Any) -> list[dict[str, Any]]:
        """Count one mention of mentions.by_brand; return the alert events it caused."""
        wall = time.time()
        m = monitor_for(brand)
        partition = event.message.partition
        offset = event.message.offset
        try:
            s: Signal | Tick | ValueError = parse_signal(event.value)
        except ValueError as exc:
            s = exc
        wm = watermark(partition)
        # The watermark takes every signal after the saved one's offset, whatever the brand's
        # state says: a crash may land some brands' states of a batch and not its watermark,
        # and their signals, skipped below, must still move it as they did before the crash.
        if isinstance(s, Signal) and offset > wm_at.get(partition, -1):
            wm.observe(s.p, s.t, wall)
            wm_at[partition] = offset
            moved.add(partition)
        if offset <= m.position:
            return []  # applied before a crash or restart: its effect is in the table
        m.position = offset
        if isinstance(s, ValueError):
            unreadable(event, s)
            return []
        if isinstance(s, Tick):
            unreadable(event, "a tick with a brand key")
            return []
        if s.o >= 0 and not m.first_time(s.p, s.o):
            return []  # sent again by the enrichment stage (a redelivery after a crash)
        mark = wm.value()
        # The brand moves to the partition's watermark first: a mention is late by the
        # watermark, not by whether a tick happened to move its brand on since its last one.
        events = m.advance(mark) if mark is not None else []
        late_before = m.late
        events += m.observe(s.id, s.t, s.neg, s.aud, s.text, advance=False)
        if brand in known:
            (metrics.late if m.late != late_before else metrics.mentions).labels(brand).inc()
        homes[brand] = partition
        if mark is not None:
            events += m.advance(mark)
        return events

    def tick(event: Any) -> dict[str, list[dict[str, Any]]]:
        """A source tick: move the partition's watermark on, and with it every brand living
        there, mentioned lately or not (silence is data). Returns the alert events of the
        brands whose buckets closed."""
        partition = event.message.partition
        if event.message.offset <= wm_at.get(partition, -1):
            return {}  # applied before a restart or rebalance: in the saved watermark
        try:
            t = parse_signal(event.value)
        except ValueError as exc:
            unreadable(event, exc)
            return {}
        if not isinstance(t, Tick):
            unreadable(event, "a mention signal without a brand key")
            return {}
        wm = watermark(partition)
        wm.tick(t.p, t.at, t.t, t.live, t.quiet, time.time())
        wm_at[partition] = event.message.offset
        moved.add(partition)
        mark = wm.value()
        if mark is None:
            return {}
        out = {}
        here = {b for b, h in home_of.items() if h == partition}
        here.update(b for b, h in homes.items() if h == partition)
        for brand in sorted(here):
            m = monitor_for(brand)
            homes[brand] = partition
            events = m.advance(mark)
            if events or m.revision != monitors[brand][1]:
                out[brand] = events
        return out

    return watch
