"""Enrichment stage: mentions.raw -> validate, de-duplicate, analyse, match -> mentions.enriched.

The hot path of the pipeline. It runs inside the Faust worker (a service of the app: same
process, event loop, lifecycle and metrics) but reads and writes with aiokafka directly, a batch
at a time: Faust's per-event machinery costs more than scoring a mention (see the README's
benchmarks). Delivery is unchanged: raw offsets are committed only once every output of their
batch is acknowledged by the broker, so a crash or rebalance redelivers, never skips.

De-duplication needs no changelog: each enriched record goes to the partition number of its raw
message (raw is keyed by id, so that is also its key's partition) with a header naming its raw
offset. On assignment a worker re-reads the tail of that enriched partition: the ids there are
the window of recent ids, and a redelivered raw message whose enriched record is already there
is recognised by its offset and not enriched twice (even after kill -9).

The spike agents' input is written here too: one mentions.by_brand record per brand a mention
names (streams.records.brand_signal), in the same delivery as the enriched record, so no agent
has to read mentions.enriched back and re-send it one event at a time. A redelivered mention's
signals are sent again, and the spike agent recognises them by raw partition and offset.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from aiokafka import ConsumerRebalanceListener
from prometheus_client import CollectorRegistry

from streams.records import (
    TICK_SECONDS,
    EnrichedMention,
    InvalidMention,
    Limits,
    RawMention,
    brand_signal,
    dumps,
    iso,
    parse_raw,
    source_tick,
)
from streams.topics import (
    MENTIONS_BY_BRAND,
    MENTIONS_DLQ,
    MENTIONS_ENRICHED,
    MENTIONS_RAW,
    MODERATION_QUEUE,
    brand_partition,
    key_partition,
)
from veille.crisis import SourceClock
from veille.dedup import DedupWindow
from veille.metrics import BrandTeams, EnrichedTally, Metrics
from veille.moderation.queue import make_item
from veille.moderation.triage import Triage, prepare, strictest, triage
from veille.reload import Reloader, WatchedFile, follow_watchlist
from veille.rules import Charter, Match, Watchlist
from veille.sentiment import Analysis, Analyzer
from veille.sentiment.brand_terms import Neutralizer
from veille.settings import Settings

log = logging.getLogger(__name__)
STAGE = "enrich"
#: Header of an enriched record: the offset of its raw message (same partition number).
SOURCE_OFFSET_HEADER = "veille-source-offset"
#: Records planned between two yields to the event loop: about 40-50 ms of CPU (2026-12-06).
#: Each part of the analysis runs over the whole slice before the next (language, then the
#: scorers, rules, triage), so a larger slice keeps each part's tables in the CPU caches for
#: longer: 300 planned 13 % faster than 100 (138 against 159 µs a mention, best of 4
#: interleaved passes over 4,000 real mentions), 500 16 % but with 70-80 ms between yields.
PLAN_SLICE = 300
#: The producer's largest request. A dead letter's value is the raw message's bytes up to
#: DLQ_MAX_VALUE_BYTES (room left for headers); beyond it, or when the broker refuses one as too
#: large (a mentions.dlq with a smaller max.message.bytes than mentions.raw), the value is cut and
#: the header TRUNCATED_HEADER holds the original size: a dead letter that can never be written
#: would hold its partition up for good.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
DLQ_MAX_VALUE_BYTES = MAX_REQUEST_BYTES - 64 * 1024
DLQ_SHRUNK_VALUE_BYTES = 64 * 1024
TRUNCATED_HEADER = "veille-dlq-truncated"
#: Merged charters kept for sets of brands named together (each is a compiled regex).
MAX_CHARTERS = 1024
#: Texts whose analysis, match and triage are remembered (Enricher._memo), cleared when full;
#: only texts of at most MEMO_MAX_CHARS characters (social posts; long texts seldom repeat), so
#: the memo holds at most about 4 MB of text (16 MB at worst: an emoji takes 4 bytes).
MEMO_SIZE = 4096
MEMO_MAX_CHARS = 1000
#: A mention of at most this many words (its links and handles counted) has its language read
#: without the names of the brands it matched (Neutralizer.unnamed): past it, a name seldom tips
#: the models (Hutto's English tweets of 6 words or more, a brand's name put before or after them:
#: found English within 0.7 point of without it; bench/sentiment_quality.py).
UNNAMED_MAX_WORDS = 6
#: Seconds between two warnings of mentions naming a brand the watch list does not have.
UNKNOWN_BRAND_WARN_SECONDS = 60.0
#: Seconds of failed ticks (5 s apart) after which veille_raw_backlog_messages reads NaN.
BACKLOG_UNKNOWN_AFTER = 30.0


@dataclass
class Outcome:
    """What one raw message became. Exactly one of the fields is set."""

    enriched: EnrichedMention | None = None
    dead: InvalidMention | None = None
    rekey: RawMention | None = None
    #: With `enriched`: its moderation.queue record when triage asks for a human.
    item: dict[str, Any] | None = None
    #: With `enriched`: the ids its source named (RawMention.brands) that the watch list does
    #: not have, ignored. Counted by the caller once the mention is known to be new (Planner.take).
    unknown: tuple[str, ...] = ()


@dataclass
class Enricher:
    """The agent's logic without Faust: bytes in, an Outcome out. De-duplication is the caller's."""

    analyzer: Analyzer
    watchlist: Watchlist
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: brands of a mention -> their strictest charter (merging compiles a regex: once per set).
    _charters: dict[tuple[str, ...], Charter] = field(default_factory=dict, init=False, repr=False)
    #: (text, language hint) -> its analysis, watch-rule match and triage (see handle_many).
    _memo: dict[tuple[str, str | None], tuple[Analysis, Match, Triage | None]] = field(
        default_factory=dict, init=False, repr=False)
    #: Term -> whether a scorer values it (veille.sentiment.brand_terms), kept across watch lists.
    _valued: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._neutral = self._neutralizer()

    def _neutralizer(self) -> Neutralizer:
        """The watch list's brands' sensitive terms, the answers of earlier lists kept."""
        return Neutralizer(self.watchlist.brands, self.analyzer.scorers.values(), self._valued)

    def use(self, watchlist: Watchlist) -> None:
        """Match with `watchlist` from the next slice on (a change of the watch list file while
        running): the charters merged and the texts remembered under the old one are dropped."""
        self.watchlist = watchlist
        self._neutral = self._neutralizer()
        self._charters.clear()
        self._memo.clear()

    def charter(self, brands: tuple[str, ...]) -> Charter:
        charter = self._charters.get(brands)
        if charter is None:
            if len(self._charters) >= MAX_CHARTERS:  # the sets seen come from the input: bounded
                self._charters.clear()
            charter = self._charters[brands] = (
                self.watchlist.charter_for(brands[0]) if len(brands) == 1
                else strictest([self.watchlist.charter_for(b) for b in brands]))
        return charter

    def handle(self, key: bytes | None, value: bytes | None, timestamp: float | None) -> Outcome:
        return self.handle_many([(key, value, timestamp)])[0]

    def handle_many(self, messages: Sequence[tuple[bytes | None, bytes | None, float | None]]
                    ) -> list[Outcome]:
        """One Outcome per (key, value, timestamp), in order.

        The work runs a step at a time over the whole slice (every parse, then every watch-rule
        match, every language detection, every sentiment score a language at a time, every
        triage) rather than a mention at a time: each step's code and tables
        (fastText's, a scorer's lexicon, the triage patterns) stay in the CPU caches across the
        slice. The planning step of 6,000 real mentions went from 323 to 248 µs per mention with
        this alone (three interleaved runs each, 2026-12-02). A step failing on one mention
        turns that mention into a processing_error dead letter; the others go on.
        """
        now = self.clock()
        outcomes: list[Outcome | None] = [None] * len(messages)
        valid: list[tuple[int, RawMention, float | None]] = []
        #: Positions in `valid` of the mentions whose source named brands (RawMention.brands).
        sourced: list[int] = []
        #: Position in `valid` -> the ids its source named that the watch list does not have.
        unknown: dict[int, tuple[str, ...]] = {}
        for i, (key, value, timestamp) in enumerate(messages):
            try:
                raw = parse_raw(value, now=now, limits=self.limits)
            except InvalidMention as exc:
                outcomes[i] = Outcome(dead=exc)
                continue
            if key != raw.id.encode("utf-8"):
                # De-duplication state is partitioned by id: a message keyed otherwise may sit on
                # another partition than its id's. It goes back to mentions.raw keyed by id.
                outcomes[i] = Outcome(rekey=raw)
                continue
            if raw.brands:
                sourced.append(len(valid))
            valid.append((i, raw, timestamp))

        def each(step: Callable[[RawMention, Any], Any], inputs: Sequence[Any] | None = None,
                 order: Sequence[int] | None = None) -> list[Any]:
            """step(raw, its input or None) for every valid mention still without an outcome,
            in `order` (positions in `valid`)."""
            results: list[Any] = [None] * len(valid)
            for k in order if order is not None else range(len(valid)):
                i, raw, _ = valid[k]
                if outcomes[i] is not None:  # failed at an earlier step
                    continue
                try:
                    results[k] = step(raw, inputs[k] if inputs is not None else None)
                except Exception as exc:  # a scorer bug must not stop the stream
                    log.exception("processing error on mention %s", raw.id)
                    outcomes[i] = Outcome(dead=InvalidMention("processing_error",
                                                              type(exc).__name__))
            return results

        # A text analysed lately (a retweet, a copied complaint, a bot's repeat) is not analysed
        # again: its language, sentiment, watch-rule match and triage depend on its text and
        # language hint alone (and the watch list, which the sentiment depends on too: the brands'
        # own terms are neutral; `use` empties the memo), and are taken from the memo.
        memo = self._memo
        keys = [(raw.text, raw.language) for _, raw, _ in valid]
        known = [memo.get(key) for key in keys]
        todo = [k for k, hit in enumerate(known) if hit is None]
        analyzer = self.analyzer
        neutral = self._neutral
        matches = each(lambda raw, _: self.watchlist.match(raw.text), order=todo)
        # The language of a short mention is read without the names of the brands it matched
        # (Neutralizer.unnamed): in a few words, a name tips the models ("acme de merde" was
        # undetermined). None: that mention failed (a dead letter already).
        read = each(lambda raw, match: (
            neutral.unnamed(raw.text, match.brands) if match.brands and _short(raw.text) else raw.text,
            raw.language), matches, order=todo)
        alive = [k for k in todo if read[k] is not None]
        try:
            # Every mention to analyse at once: fastText over all of them, then the second
            # opinions (Analyzer.detect_many). Should one fail, each is detected alone, and only
            # the one that fails becomes a dead letter.
            found = analyzer.detect_many([read[k] for k in alive])
            languages: list[Any] = [None] * len(valid)
            for k, language in zip(alive, found, strict=True):
                languages[k] = language
        except Exception:
            languages = each(lambda raw, text_hint: analyzer.detect(*text_hint), read, order=todo)
        # Scored a language at a time: one scorer's tables stay in the caches. The brands' own
        # terms the scorers value are neutral in their mentions ("Boréal" is a lexicon word):
        # the text scored is the one Neutralizer gives (the language was read above).
        by_language = sorted(todo, key=lambda k: languages[k][0] if languages[k] else "")
        sentiments = each(lambda raw, lm: analyzer.score(neutral.text(raw.text, lm[1].brands), lm[0][0]),
                          list(zip(languages, matches, strict=True)), by_language)
        analyses = [Analysis(lc[0], lc[1], s) if lc else None
                    for lc, s in zip(languages, sentiments, strict=True)]
        verdicts = each(lambda raw, am: self._triage(raw, *am),
                        list(zip(analyses, matches, strict=True)), order=todo)
        for k in todo:
            i, raw, _ = valid[k]
            if outcomes[i] is None and len(raw.text) <= MEMO_MAX_CHARS:
                if len(memo) >= MEMO_SIZE:
                    memo.clear()
                memo[keys[k]] = (cast(Analysis, analyses[k]), matches[k], verdicts[k])
        for k, hit in enumerate(known):
            if hit is not None:
                analyses[k], matches[k], verdicts[k] = hit
        if sourced:
            # The brands the source named (posted in their own space), added to the text's
            # match once the memo has it: the memo holds what the text alone gives.
            self._add_source_brands(valid, sourced, outcomes, analyses, matches, verdicts, unknown)
        for k, ((i, raw, timestamp), analysis, match, verdict) in enumerate(
                zip(valid, analyses, matches, verdicts, strict=True)):
            if outcomes[i] is None:  # every step went through: analysis and match are set
                try:
                    outcomes[i] = self._outcome(raw, timestamp, now, cast(Analysis, analysis),
                                                match, verdict, unknown.get(k, ()))
                except Exception as exc:
                    log.exception("processing error on mention %s", raw.id)
                    outcomes[i] = Outcome(dead=InvalidMention("processing_error",
                                                              type(exc).__name__))
        return cast(list[Outcome], outcomes)

    def _add_source_brands(self, valid: Sequence[tuple[int, RawMention, float | None]],
                           sourced: Sequence[int], outcomes: list[Outcome | None],
                           analyses: list[Any], matches: list[Any], verdicts: list[Any],
                           unknown: dict[int, tuple[str, ...]]) -> None:
        """Each mention of `sourced` (positions in `valid`) with the brands its source named
        (Watchlist.with_source), triaged again when that gave it other brands (their charter);
        ids the watch list does not have are ignored, kept in `unknown` for its Outcome."""
        for k in sourced:
            i, raw, _ = valid[k]
            if outcomes[i] is not None:  # failed at an earlier step
                continue
            try:
                match, ids = self.watchlist.with_source(matches[k], raw.brands, raw.platform)
                if ids:
                    unknown[k] = ids
                if match.brands != matches[k].brands:
                    verdicts[k] = self._triage(raw, analyses[k], match)
                matches[k] = match
            except Exception as exc:  # as a step of handle_many's: that mention alone fails
                log.exception("processing error on mention %s", raw.id)
                outcomes[i] = Outcome(dead=InvalidMention("processing_error", type(exc).__name__))

    def _triage(self, raw: RawMention, analysis: Analysis, match: Match) -> Triage | None:
        if not match.brands:  # moderation concerns the watched brands only
            return None
        sentiment = analysis.sentiment
        return triage(raw.text, analysis.language, sentiment.label if sentiment else "neutral",
                      sentiment.compound if sentiment else 0.0, match.brands,
                      self.charter(match.brands))

    def _outcome(self, raw: RawMention, timestamp: float | None, now: datetime,
                 analysis: Analysis, match: Match, verdict: Triage | None,
                 unknown: tuple[str, ...] = ()) -> Outcome:
        sentiment = analysis.sentiment
        # Arrival: the collector's time, else the Kafka record's; never after now (a producer's
        # clock or unit can be wrong: a future arrival would hold veille_lag_seconds at 0), nor
        # before the mention was posted (a collected_at of year 1 passed through).
        received = raw.collected_at
        if received is None and timestamp is not None:
            try:
                received = datetime.fromtimestamp(timestamp, UTC)
            except (OverflowError, OSError, ValueError):  # e.g. microseconds taken for ms
                received = None
        if received is None or received > now:
            received = now
        if received < raw.created_at:  # collected before it was posted: a clock or unit wrong
            received = min(raw.created_at, now)
        mention = EnrichedMention(
            raw=raw,
            language=analysis.language,
            language_confidence=analysis.language_confidence,
            sentiment=sentiment,
            brands=match.brands,
            rules=match.rules,
            received_at=received,
            processed_at=self.clock(),
            triage=verdict,
        )
        item = None
        if verdict is not None and verdict.action != "none":
            item = make_item(
                mention_id=raw.id, brands=match.brands, triage=verdict,
                charter=self.charter(match.brands), language=analysis.language,
                sentiment=sentiment.label if sentiment else None,
                compound=sentiment.compound if sentiment else None, platform=raw.platform,
                author=raw.author, text=raw.text, url=raw.url,
                created_at=raw.created_at.timestamp(), queued_at=mention.processed_at.timestamp(),
            )
        return Outcome(enriched=mention, item=item, unknown=unknown)


def _short(text: str) -> bool:
    """At most UNNAMED_MAX_WORDS words (the length first: most texts stop there)."""
    return len(text) <= 40 * UNNAMED_MAX_WORDS and len(text.split()) <= UNNAMED_MAX_WORDS


def enrichment(settings: Settings, registry: CollectorRegistry, analyzer: Analyzer | None = None,
               watched: WatchedFile[Watchlist] | None = None
               ) -> tuple[Reloader[Watchlist], Metrics, Enricher]:
    """The watch list (followed: see veille.reload), the pipeline's metrics and the enricher, for
    any role. A change of the watch list goes to the enricher and the metrics here; the caller
    adds its agents' listeners and polls the reloader. `watched`: the watch list file already
    loaded (`veille worker` loads it before anything starts, to refuse a bad one at once),
    followed as it is; without it, it is loaded here."""
    reloader = follow_watchlist(settings.watchlist_path, Watchlist.from_toml,
                                settings.watchlist_reload_seconds, registry,
                                size=lambda w: len(w.brands), watched=watched)
    watchlist = reloader.value
    analyzer = analyzer or Analyzer()
    metrics = Metrics(registry, watchlist.brand_ids, analyzer.languages)
    enricher = Enricher(analyzer, watchlist, Limits.from_settings(settings))
    reloader.on_change(enricher.use)
    reloader.on_change(lambda changed: metrics.watch(changed.brand_ids))
    teams = BrandTeams(registry, watchlist.teams)  # the `team` label of the brand alerts
    reloader.on_change(lambda changed: teams.watch(changed.teams))
    return reloader, metrics, enricher


def dlq_headers(exc: InvalidMention, message: Any, now: datetime) -> list[tuple[str, bytes]]:
    """Kafka Connect-style context headers: the value itself stays the original bytes."""
    return [
        ("veille-dlq-reason", exc.reason.encode()),
        ("veille-dlq-detail", exc.detail[:500].encode("utf-8", "replace")),
        ("veille-dlq-field", (exc.field or "").encode()),
        ("veille-dlq-stage", STAGE.encode()),
        ("veille-dlq-topic", str(message.topic).encode()),
        ("veille-dlq-partition", str(message.partition).encode()),
        ("veille-dlq-offset", str(message.offset).encode()),
        ("veille-dlq-failed-at", iso(now).encode()),
    ]


@dataclass
class Out:
    """One record to publish, kept until the broker acknowledges it (then it is dropped)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    #: Set for enriched records (the raw partition number); others go by key.
    partition: int | None = None


@dataclass
class Cycle:
    """What one batch of raw messages became, and the offsets to commit once it is delivered."""

    enriched: dict[int, list[Out]] = field(default_factory=dict)
    #: mentions.by_brand partition -> signals, in raw order per raw partition.
    by_brand: dict[int, list[Out]] = field(default_factory=dict)
    side: list[Out] = field(default_factory=list)
    #: TopicPartition -> next offset to read.
    commit: dict[Any, int] = field(default_factory=dict)
    #: Raw partition -> newest event time of the valid mentions of the batch.
    newest: dict[int, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.side) + sum(len(o) for group in (self.enriched, self.by_brand)
                                    for o in group.values())


def truncated(out: Out, limit: int) -> Out:
    """A dead letter whose value is cut to `limit` bytes, the original size in TRUNCATED_HEADER
    (kept from a first cut); `out` itself when it fits."""
    value = out.value
    if value is None or len(value) <= limit:
        return out
    headers = list(out.headers or [])
    if not any(name == TRUNCATED_HEADER for name, _ in headers):
        headers.append((TRUNCATED_HEADER, str(len(value)).encode()))
    return Out(out.topic, out.key, value[:limit], headers, out.partition)


@dataclass(frozen=True)
class Names:
    raw: str
    enriched: str
    dlq: str
    queue: str
    by_brand: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Names:
        return cls(settings.topic(MENTIONS_RAW), settings.topic(MENTIONS_ENRICHED),
                   settings.topic(MENTIONS_DLQ), settings.topic(MODERATION_QUEUE),
                   settings.topic(MENTIONS_BY_BRAND))


class Planner:
    """Raw records in, a Cycle out: validation, enrichment and de-duplication, no I/O.

    `windows` holds one DedupWindow per raw partition this worker owns; records of any other
    partition are left alone (revoked while they were fetched). `brand_partitions` is the
    partition count of mentions.by_brand. With `raw_partitions` (mentions.raw's count), a record
    keyed by its id but on another partition than Kafka's default partitioner gives that id (a
    producer with another partitioner, or an explicit partition) is re-keyed like a wrongly keyed
    one: de-duplication is per partition, so an id must always land on the same one.
    """

    def __init__(self, enricher: Enricher, metrics: Metrics, names: Names,
                 windows: dict[int, DedupWindow], clock: Callable[[], float] = time.time, *,
                 brand_partitions: int, raw_partitions: int | None = None) -> None:
        self.enricher = enricher
        self.brand_partitions = brand_partitions
        self.raw_partitions = raw_partitions
        self._homes: dict[str, int] = {}  # brand -> its mentions.by_brand partition
        self.metrics = metrics
        self.names = names
        self.windows = windows
        self.clock = clock
        #: When the last unknown-brand warning was logged (monotonic), and how many since.
        self._warned: float | None = None
        self._unwarned = 0
        #: The mentions of the batch being planned that named brands the watch list does not
        #: have, enriched (not redelivered nor duplicates), and the last of them (id, unknown ids).
        self._unknown = 0
        self._last_unknown: tuple[str, tuple[str, ...]] | None = None

    def plan(self, batches: Mapping[Any, Sequence[Any]]) -> Cycle:
        cycle = Cycle()
        tally = self.metrics.tally()
        try:
            self._plan(batches, cycle, tally)
        finally:
            tally.apply()  # the batch's counts, once (EnrichedTally)
        return cycle

    def _plan(self, batches: Mapping[Any, Sequence[Any]], cycle: Cycle, tally: EnrichedTally) -> None:
        for tp, records in batches.items():
            window = self.windows.get(tp.partition)
            if window is None or not records:
                continue
            now = self.clock()
            window.expire(now)
            n, p = self.raw_partitions, tp.partition
            outcomes = self.enricher.handle_many([
                # A key on the wrong partition is no key: the message is re-sent keyed by its id.
                (r.key if n is None or r.key is None or key_partition(r.key, n) == p else None,
                 r.value, r.timestamp / 1000.0 if r.timestamp and r.timestamp > 0 else None)
                for r in records])
            for record, outcome in zip(records, outcomes, strict=True):
                self.take(record, outcome, window, cycle, now, tally)
            cycle.commit[tp] = records[-1].offset + 1
            if self._unknown:
                self.unknown_brands(self._unknown, self._last_unknown)
                self._unknown, self._last_unknown = 0, None

    def unknown_brands(self, count: int, last: tuple[str, tuple[str, ...]] | None) -> None:
        """`count` mentions named brands the watch list does not have: counted, and said in a
        warning at most once a UNKNOWN_BRAND_WARN_SECONDS (a Zap with a typo sends many)."""
        self.metrics.unknown_brand.inc(count)
        self._unwarned += count
        at = time.monotonic()
        if self._warned is not None and at - self._warned < UNKNOWN_BRAND_WARN_SECONDS:
            return
        mention, ids = last or ("?", ())
        log.warning("%d mention(s) named brands the watch list does not have, ignored for them "
                    "(the last: %r, naming %s): a typo in the source's brands, or a brand taken "
                    "off the list?", self._unwarned, mention[:100], ", ".join(ids))
        self._warned, self._unwarned = at, 0

    def dead(self, record: Any, exc: InvalidMention) -> Out:
        self.metrics.dead_letters.labels(exc.reason, STAGE).inc()
        return truncated(Out(self.names.dlq, record.key, record.value,
                             dlq_headers(exc, record, self.enricher.clock())), DLQ_MAX_VALUE_BYTES)

    def take(self, record: Any, outcome: Outcome, window: DedupWindow, cycle: Cycle,
             now: float, tally: EnrichedTally) -> None:
        metrics = self.metrics
        tally.raw += 1
        if outcome.dead is not None:
            cycle.side.append(self.dead(record, outcome.dead))
            return
        if outcome.rekey is not None:
            metrics.rekeyed.inc()
            value = record.value
            if len(value) > DLQ_MAX_VALUE_BYTES:
                # Larger than a request may be (a foreign producer's, padded with unknown
                # fields): sent back as the mention it holds, or it was retried for ever and
                # held its partition up (found in review, 2026-12-05).
                value = outcome.rekey.to_json()
            cycle.side.append(Out(self.names.raw, outcome.rekey.id.encode(), value))
            return
        mention = outcome.enriched
        assert mention is not None
        key = mention.raw.id.encode()
        created = mention.raw.created_at.timestamp()
        if created > cycle.newest.get(record.partition, float("-inf")):
            cycle.newest[record.partition] = created
        try:
            item = dumps(outcome.item) if outcome.item else None
            signal = (brand_signal(mention, record.partition, record.offset)
                      if mention.brands else None)
            seen = window.get(key, now)
            if seen is None and window.replayed(record.offset):
                # Enriched by an earlier owner, whose window entry is gone (a restart after
                # the ttl, a batch larger than the window): a redelivery all the same.
                seen = (now, record.offset)
            if seen is not None:
                if seen[1] == record.offset:
                    # This very raw message again (crash or rebalance before its offset was
                    # committed): its enriched record is on the broker already. Its queue item
                    # and by-brand signals may not be: re-sent, the moderation agent keeps the
                    # first item and the spike agent recognises a signal by its raw offset.
                    metrics.redeliveries.inc()
                    if item is not None:
                        cycle.side.append(Out(self.names.queue, key, item))
                    self.fan_out(mention.brands, signal, cycle)
                else:
                    metrics.duplicates.inc()
                return
            value = mention.to_json()
        except Exception as exc:  # an encoding bug must not crash the stage nor lose the input
            log.exception("cannot encode the enriched record of mention %r", mention.raw.id)
            cycle.side.append(self.dead(record, InvalidMention("processing_error", type(exc).__name__)))
            return
        window.add(key, now, record.offset)
        partition = record.partition
        cycle.enriched.setdefault(partition, []).append(Out(
            self.names.enriched, key, value,
            [(SOURCE_OFFSET_HEADER, str(record.offset).encode())], partition))
        if item is not None:
            cycle.side.append(Out(self.names.queue, key, item))
        self.fan_out(mention.brands, signal, cycle)
        if outcome.unknown:  # counted as the mention is: once, its redeliveries and duplicates not
            self._unknown += 1
            self._last_unknown = (mention.raw.id, outcome.unknown)
        sentiment = mention.sentiment
        tally.observe_enriched(
            mention.brands,
            mention.raw.platform,
            mention.language,
            sentiment.label if sentiment else "unscored",
            sentiment.compound if sentiment else None,
            created,
            mention.received_at.timestamp(),
        )


    def fan_out(self, brands: tuple[str, ...], value: bytes | None, cycle: Cycle) -> None:
        """A mention's mentions.by_brand records: one per brand, on each brand's partition."""
        if value is None:
            return
        for brand in brands:
            home = self._homes.get(brand)
            if home is None:
                home = self._homes[brand] = brand_partition(brand, self.brand_partitions)
            cycle.by_brand.setdefault(home, []).append(
                Out(self.names.by_brand, brand.encode(), value, None, home))


async def load_windows(brokers: Mapping[str, Any], enriched: str, partitions: Sequence[int], ttl: float,
                       max_entries: int, clock: Callable[[], float] = time.time,
                       timeout: float = 120.0,
                       clocks: dict[int, SourceClock] | None = None,
                       committed: Mapping[int, int | None] | None = None) -> dict[int, DedupWindow]:
    """Rebuild the de-duplication windows of `partitions` from the tail of mentions.enriched:
    about its last `max_entries` records per partition (starting earlier than needed is
    harmless: a window keeps the newest), read to the fetch high watermark. With `clocks`,
    also each partition's event-time clock, from its last record (when it was written, and
    the event time of its mention), for the source ticks. With `committed` (the group's
    committed offset of each raw partition), each window also knows the raw offsets enriched
    but not committed (DedupWindow.replay_from), whatever its ttl and size."""
    from aiokafka import TopicPartition

    from agents.recovery import read_to_end

    windows = {p: DedupWindow(ttl, max_entries) for p in partitions}
    last: dict[int, Any] = {}

    def remember(r: Any) -> None:
        if r.key is None:
            return
        last[r.partition] = r
        windows[r.partition].add(r.key, r.timestamp / 1000.0, _source_offset(r))

    await read_to_end(brokers, [TopicPartition(enriched, p) for p in partitions], remember,
                      start=lambda tp, end: max(0, end - max_entries - 1), timeout=timeout)
    now = clock()
    for window in windows.values():
        window.expire(now)
    for p, done in (committed or {}).items():
        # The newest record's raw offset: records are written in raw offset order.
        through = _source_offset(last[p]) if p in last else -1
        if done is not None and p in windows and through >= done:
            windows[p].replay_from, windows[p].replay_through = done, through
    if clocks is not None:
        for p, r in last.items():
            offset = _source_offset(r)
            try:
                created = datetime.fromisoformat(json.loads(r.value)["created_at"]).timestamp()
            except (ValueError, TypeError, KeyError):
                continue  # not one of ours: the partition's clock starts with its next mention
            if offset < 0:
                continue  # nor is a record without its raw offset
            # Claimed in ticks only once the stage is past that offset (SourceClock.unconfirmed).
            clocks[p] = SourceClock(created, r.timestamp / 1000.0, unconfirmed=offset)
    return windows


def _source_offset(record: Any) -> int:
    """The raw offset an enriched record was made from (its header), or -1."""
    for name, raw in record.headers or ():
        if name == SOURCE_OFFSET_HEADER:
            try:
                return int(raw)
            except ValueError:
                return -1
    return -1


class EnrichStage:
    """The enrichment stage's transport: consumer group on mentions.raw, batched produce, commit.

    One loop: fetch a batch, plan it, deliver every output (a failed send is retried with
    backoff, never skipped), then commit the batch's offsets. The batch lock keeps rebalances
    between batches: a partition is handed over only once its last batch is delivered and
    committed.
    """

    def __init__(self, settings: Settings, enricher: Enricher, metrics: Metrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.names = Names.from_settings(settings)
        self.metrics = metrics
        self.clock = clock
        self.windows: dict[int, DedupWindow] = {}
        self.planner = Planner(enricher, metrics, self.names, self.windows, clock,
                               brand_partitions=settings.topic_partitions)
        # Triage's prefilters (0.2 s) and the second language model (0.45 s), made before the
        # first batch rather than in it.
        prepare()
        enricher.analyzer.prepare()
        self.lock = asyncio.Lock()
        self.consumer: Any = None
        self.producer: Any = None
        self.stopping = False
        self._reload: asyncio.Task[None] | None = None
        #: Counts the assignments: a window re-read before the latest one is not installed.
        self.generation = 0
        #: mentions.enriched partition -> its end after this stage's last acknowledged write.
        self.enriched_ends: dict[int, int] = {}
        #: Raw partition -> its event-time clock, for the source ticks (see punctuate()).
        self.clocks: dict[int, SourceClock] = {}
        self.in_hand = False
        #: When the backlog was last measured (monotonic), and how long a tick may fail before
        #: veille_raw_backlog_messages reads NaN (unknown) rather than that measure.
        self.backlog_measured = time.monotonic()
        self.backlog_unknown_after = BACKLOG_UNKNOWN_AFTER

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        s = self.settings
        self.producer = AIOKafkaProducer(
            **s.kafka_client_options(), client_id=f"{s.app_id}-enrich",
            acks="all", enable_idempotence=False, linger_ms=int(s.producer_linger_ms),
            max_batch_size=256 * 1024, max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=s.producer_request_timeout_ms,
        )
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            **s.kafka_client_options(), client_id=f"{s.app_id}-enrich",
            group_id=s.enrich_group, enable_auto_commit=False,
            # A new group starts from the beginning: what collectors wrote before the first
            # worker started is enriched too.
            auto_offset_reset="earliest",
            max_poll_records=s.enrich_batch_max, fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=int(s.broker_session_timeout * 1000),
            heartbeat_interval_ms=int(s.broker_heartbeat_interval * 1000),
            rebalance_timeout_ms=int(s.broker_rebalance_timeout * 1000),
            # A JoinGroup waits up to the rebalance timeout: with aiokafka's 40 s default, a
            # rebalance timeout of a minute (docker-compose) timed the join out on the client.
            request_timeout_ms=int(s.group_request_timeout * 1000),
        )
        await self.consumer.start()
        raw = self.consumer.partitions_for_topic(self.names.raw) or set()
        enriched = self.consumer.partitions_for_topic(self.names.enriched) or set()
        if raw != enriched:
            raise RuntimeError(
                f"{self.names.raw} has {len(raw)} partitions and {self.names.enriched} "
                f"{len(enriched)}: de-duplication needs them equal (run `veille topics`)")
        # The count the producers' partitioner used, as the broker has it (a re-keyed message
        # must land where the check expects it, or it would be re-keyed for ever).
        self.planner.raw_partitions = len(raw) or None
        self.consumer.subscribe([self.names.raw], listener=_Listener(self))

    async def stop(self) -> None:
        self.stopping = True
        async with self.lock:  # the batch in hand is delivered and committed first (or, if the
            pass               # broker is away, abandoned uncommitted: redelivered later)
        if self._reload is not None:
            self._reload.cancel()
        # Each closed on its own: with the broker away, aiokafka's consumer.stop() can raise
        # (its fetcher's close is cancelled), which must not leave the producer open.
        for client in (self.consumer, self.producer):  # the consumer leaves the group first
            if client is None:
                continue
            try:
                await client.stop()
            except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001
                log.warning("enrich: %s did not close cleanly: %r", type(client).__name__, exc)

    # --- rebalances --------------------------------------------------------------------------

    async def committed(self, partitions: Sequence[int]) -> dict[int, int | None]:
        """The group's committed offset of each raw partition (None: never committed)."""
        from aiokafka import TopicPartition

        return {p: await self.consumer.committed(TopicPartition(self.names.raw, p))
                for p in partitions}

    async def revoked(self, partitions: Any) -> None:
        async with self.lock:
            for tp in partitions:
                self.windows.pop(tp.partition, None)
                self.clocks.pop(tp.partition, None)

    async def assigned(self, partitions: Any) -> None:
        s = self.settings
        owned = sorted(tp.partition for tp in partitions if tp.topic == self.names.raw)
        started = time.monotonic()
        clocks: dict[int, SourceClock] = {}
        try:
            windows = await load_windows(s.kafka_client_options(), self.names.enriched, owned,
                                         s.dedup_ttl_seconds, s.dedup_max_per_partition, self.clock,
                                         clocks=clocks, committed=await self.committed(owned))
        except Exception as exc:  # noqa: BLE001 (aiokafka would swallow it: the partitions
            # would never be read); they are read again once run() has re-read their windows
            log.warning("enrich: cannot re-read %s for partitions %s (%r); retrying",
                        self.names.enriched, owned, exc)
            windows = {}
        async with self.lock:
            self.generation += 1
            if owned and not windows:
                # Re-read within seconds, retried until it succeeds, whether or not records
                # come: a quiet partition without its window sends no ticks either (until
                # 2026-12-05 only a fetched record scheduled the re-read).
                if self._reload is not None:
                    self._reload.cancel()
                self._reload = asyncio.ensure_future(self.reload(owned))
            self.metrics.rebalances.inc()
            self.windows.clear()
            self.windows.update(windows)
            self.clocks.clear()
            self.clocks.update(clocks)
            ids = sum(len(w) for w in windows.values())
            self.metrics.dedup_ids.set(ids)
        log.info("enrich: owning raw partitions %s; %d recent ids re-read from %s in %.2f s",
                 owned, ids, self.names.enriched,
                 time.monotonic() - started)

    # --- the loop ----------------------------------------------------------------------------

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """What runs while the stage is started, whatever runs it (a Faust service, or the
        `enrich` role's own loop): the consumer loop, the heartbeat and the source ticks (an
        `enrich` worker started without the ticks until 2026-12-05: the spike agent's
        watermark then waited for quiet partitions for ever)."""
        return [self.run(), self.heartbeat(), self.punctuate()]

    async def run(self) -> None:
        from aiokafka.errors import ConsumerStoppedError, KafkaError

        while not self.stopping:
            try:
                batches = await self.consumer.getmany(timeout_ms=500)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:  # e.g. a corrupt batch: logged, tried again, never fatal
                log.warning("enrich: fetch failed (%r); retrying in 1 s", exc)
                await asyncio.sleep(1.0)
                continue
            if not batches:
                continue
            # Records in hand, not delivered yet: the consumer's position is past them already,
            # so no tick may say their partition is read to its end until they are delivered.
            self.in_hand = True
            async with self.lock:
                if self.stopping:
                    return  # not committed: redelivered to the next owner
                assigned = self.consumer.assignment()
                mine, waiting = {}, []
                for tp, records in batches.items():
                    if tp.partition in self.windows:
                        mine[tp] = records
                    elif tp in assigned:  # window not loaded yet: read these again later
                        self.consumer.seek(tp, records[0].offset)
                        waiting.append(tp.partition)
                if waiting and (self._reload is None or self._reload.done()):
                    self._reload = asyncio.ensure_future(self.reload(waiting))
                cycle = await self.plan(mine)
                self.metrics.dedup_ids.set(sum(len(w) for w in self.windows.values()))
                try:
                    await self.deliver(cycle)
                except Abandoned:
                    return  # stopping with the broker away: not committed, redelivered later
                await self.commit(cycle.commit)
                wall = self.clock()
                for p, t in cycle.newest.items():
                    self.clocks.setdefault(p, SourceClock()).saw(t, wall)
                self.in_hand = False
            if not mine:
                await asyncio.sleep(0.2)  # only partitions still waiting for their window

    async def reload(self, partitions: Sequence[int], delay: float = 1.0) -> None:
        """Re-read the windows of owned partitions whose load failed when they were assigned,
        again and again (1 s, doubling up to 30 s) until they are read or no longer owned. A
        window read across a rebalance is not installed (another worker may have enriched the
        partition meanwhile): it is read again."""
        s = self.settings
        wanted = sorted(set(partitions))
        while not self.stopping:
            await asyncio.sleep(delay)
            owned = {tp.partition for tp in self.consumer.assignment()
                     if tp.topic == self.names.raw}
            wanted = [p for p in wanted if p in owned and p not in self.windows]
            if not wanted:
                return
            generation = self.generation
            clocks: dict[int, SourceClock] = {}
            try:
                windows = await load_windows(s.kafka_client_options(), self.names.enriched, wanted,
                                             s.dedup_ttl_seconds, s.dedup_max_per_partition,
                                             self.clock, clocks=clocks,
                                             committed=await self.committed(wanted))
            except Exception as exc:  # noqa: BLE001 (tried again)
                delay = min(30.0, max(1.0, delay * 2))
                log.warning("enrich: cannot re-read %s for partitions %s yet (%r); retrying in "
                            "%.0f s", self.names.enriched, wanted, exc, delay)
                continue
            async with self.lock:
                if self.generation != generation:
                    delay = 0.0
                    continue  # a rebalance meanwhile: read again what is still missing
                for p, window in windows.items():
                    if p not in self.windows:
                        self.windows[p] = window
                        if p in clocks:
                            self.clocks[p] = clocks[p]
            log.info("enrich: windows of partitions %s re-read", sorted(windows))
            return

    async def plan(self, batches: Mapping[Any, Sequence[Any]]) -> Cycle:
        """Plan a batch in slices, letting the event loop run between them: the Faust agents,
        heartbeats and /metrics share this loop, and a whole batch is about a second of CPU."""
        cycle = Cycle()
        for tp, records in batches.items():
            for i in range(0, len(records), PLAN_SLICE):
                part = self.planner.plan({tp: records[i:i + PLAN_SLICE]})
                cycle.side.extend(part.side)
                for p, outs in part.enriched.items():
                    cycle.enriched.setdefault(p, []).extend(outs)
                for p, outs in part.by_brand.items():
                    cycle.by_brand.setdefault(p, []).extend(outs)
                cycle.commit.update(part.commit)
                for p, t in part.newest.items():
                    cycle.newest[p] = max(t, cycle.newest.get(p, t))
                await asyncio.sleep(0)
        return cycle

    async def commit(self, offsets: dict[Any, int]) -> None:
        from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # Rebalanced meanwhile: the next owner redelivers these and recognises them.
            log.warning("enrich: commit after a rebalance refused (%s)", type(exc).__name__)
        except KafkaError as exc:
            log.warning("enrich: commit failed (%s); the batch will be redelivered", exc)

    async def deliver(self, cycle: Cycle) -> None:
        """Send every output of the cycle and wait until the broker holds all of them.

        Enriched records and by-brand signals go in batches, a partition's batches one after
        the other: a failed one is retried before any later one of its partition is sent. On
        mentions.by_brand that order is what keeps counts right (the spike agent drops a signal
        older than one it applied from the same raw partition)."""
        from aiokafka.errors import MessageSizeTooLargeError

        side = list(cycle.side)
        queues = {(outs[0].topic, p): self.chunks(outs)
                  for group in (cycle.enriched, cycle.by_brand) for p, outs in group.items() if outs}
        backoff = 0.1
        suspect: set[tuple[str, int]] = set()  # enriched queues whose last send may have landed
        while side or queues:
            failures = 0
            why: Exception | None = None  # the first failure of this round, for the log
            for key in sorted(suspect):
                # A failed send may still have been written (the acknowledgement was lost, or
                # the broker was frozen and wrote it on waking): the records the partition
                # holds already are not sent again, or mentions.enriched would have them twice.
                try:
                    queues[key][0] = await self.unwritten(key[1], queues[key][0])
                except Exception as exc:  # noqa: BLE001 (the broker is still away: later)
                    log.debug("enrich: cannot check %s yet: %r", key, exc)
                    failures += len(queues[key][0])
                    why = why or exc
                    continue
                suspect.discard(key)
                if not queues[key][0]:
                    queues[key].pop(0)
            queues = {key: chunks for key, chunks in queues.items() if chunks}
            sent = [(o, await self.send(o)) for o in side]
            heads = [(key, await self.send_batch(key[1], chunks[0]))
                     for key, chunks in queues.items() if key not in suspect]
            side = []
            for o, fut in sent:
                error = await _error(fut)
                if error is None:
                    continue
                why = why or error
                if isinstance(error, MessageSizeTooLargeError) and o.topic == self.names.dlq:
                    o = truncated(o, DLQ_SHRUNK_VALUE_BYTES)  # the broker's limit is lower
                side.append(o)
            failures += len(side)
            for key, fut in heads:
                error = await _error(fut)
                if error is None:
                    written = queues[key].pop(0)
                    offset = getattr(fut.result(), "offset", None)
                    if key[0] == self.names.enriched and isinstance(offset, int):
                        self.enriched_ends[key[1]] = offset + len(written)
                else:
                    why = why or error
                    failures += len(queues[key][0])
                    if key[0] == self.names.enriched:
                        suspect.add(key)
            queues = {key: chunks for key, chunks in queues.items() if chunks}
            if failures and self.stopping:
                # Asked to stop while the broker refuses: nothing of this batch is committed,
                # so its next owner reads it again (and recognises what did arrive).
                log.warning("enrich: stopping with %d sends undelivered; the batch is not "
                            "committed and will be read again", failures)
                raise Abandoned
            if failures:
                self.metrics.send_errors.inc(failures)
                # The broker's error names the cause (the runbook's SendsFailing): a topic
                # deleted, ACLs, too few in-sync replicas, a record too large.
                log.warning("enrich: %d sends failed (%s); retrying in %.1f s", failures,
                            _describe(why), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def unwritten(self, partition: int, outs: list[Out]) -> list[Out]:
        """Of enriched records of `partition` whose send failed, those the broker does not hold:
        the partition's tail is read to its high watermark, from the end known after this
        stage's last good write there (else from a little before the end the broker reports,
        which Tansu reports too low: a lower bound), and a record whose source offset is found
        there is dropped."""
        from aiokafka import TopicPartition

        from agents.recovery import read_to_end

        def source(o: Out) -> bytes:
            return dict(o.headers or [])[SOURCE_OFFSET_HEADER]

        wanted = {source(o) for o in outs}
        found: set[bytes] = set()

        def see(r: Any) -> None:
            for name, raw in r.headers or ():
                if name == SOURCE_OFFSET_HEADER and raw in wanted:
                    found.add(raw)

        known = self.enriched_ends.get(partition)
        await read_to_end(self.settings.kafka_client_options(),
                          [TopicPartition(self.names.enriched, partition)], see,
                          start=lambda tp, end: known if known is not None
                          else max(0, end - len(outs) - 100), timeout=30.0)
        if found:
            log.info("enrich: %d records of %s[%d] were written although their send failed; "
                     "not sent again", len(found), self.names.enriched, partition)
        return [o for o in outs if source(o) not in found]

    def chunks(self, outs: list[Out]) -> list[list[Out]]:
        """Records of one partition cut into producer batches (256 KiB each at most)."""
        chunks: list[list[Out]] = [[]]
        size = 0
        limit = 200 * 1024  # headroom under max_batch_size for record overheads
        for o in outs:
            n = len(o.value or b"") + len(o.key or b"") + 64
            if chunks[-1] and size + n > limit:
                chunks.append([])
                size = 0
            chunks[-1].append(o)
            size += n
        return [c for c in chunks if c]

    async def send(self, out: Out) -> Any:
        try:
            return await self.producer.send(out.topic, out.value, key=out.key, headers=out.headers,
                                            partition=out.partition)
        except Exception as exc:  # e.g. no metadata while the broker is away: retried
            return _failed(exc)

    async def send_batch(self, partition: int, outs: list[Out]) -> Any:
        producer = self.producer
        batch = producer.create_batch()
        for o in outs:
            if batch.append(key=o.key, value=o.value, timestamp=None, headers=o.headers) is None:
                # Larger than a whole batch: on its own, through send().
                if len(outs) == 1:
                    return await self.send(o)
                return _failed(ValueError("record batch overflow"))
        try:
            return await producer.send_batch(batch, outs[0].topic, partition=partition)
        except Exception as exc:
            return _failed(exc)

    async def punctuate(self, interval: float = TICK_SECONDS) -> None:
        """Every `interval` seconds, a tick on every mentions.by_brand partition for each owned
        raw partition (veille.crisis.Watermark): without them, a partition with nothing new
        would hold the spike agents' buckets open, and a quiet brand's alert story would never
        resolve. Sent under the batch lock, once the signals of every batch read so far are
        acknowledged, so a tick never overtakes the mentions it speaks for."""
        from aiokafka import TopicPartition

        s = self.settings
        live_seconds = s.spike_lateness_seconds + 2 * s.spike_bucket_seconds
        while not self.stopping:
            await asyncio.sleep(interval)
            measured = False
            try:
                async with self.lock:
                    if self.stopping:
                        return
                    sent = []
                    backlog = 0
                    for p in sorted(self.windows):
                        tp = TopicPartition(self.names.raw, p)
                        high = self.consumer.highwater(tp)
                        position = await asyncio.wait_for(self.consumer.position(tp), 1.0)
                        if high is not None:
                            backlog += max(0, high - position)
                        # Records handed over by the consumer but not delivered yet: not read.
                        read = high is not None and position >= high and not self.in_hand
                        clock = self.clocks.get(p) or SourceClock()
                        if not self.in_hand:  # everything before the position is delivered
                            clock.delivered(position)
                        value = source_tick(p, *clock.tick(self.clock(), read, live_seconds,
                                                           s.spike_idle_seconds))
                        sent += [await self.send(Out(self.names.by_brand, None, value, None, q))
                                 for q in range(s.topic_partitions)]
                    # Owned partitions still waiting for their window are read by nobody: their
                    # backlog counts too (it read 0, so PipelineStalled could not see them).
                    for tp in self.consumer.assignment():
                        if tp.topic != self.names.raw or tp.partition in self.windows:
                            continue
                        high = self.consumer.highwater(tp)
                        if high is not None:
                            position = await asyncio.wait_for(self.consumer.position(tp), 1.0)
                            backlog += max(0, high - position)
                    self.metrics.raw_backlog.set(backlog)
                    measured = True
                    self.backlog_measured = time.monotonic()
                    for fut in sent:
                        await asyncio.wait_for(fut, timeout=10.0)
            except Exception as exc:  # noqa: BLE001 (the next tick says the same, later)
                if not measured and (time.monotonic() - self.backlog_measured
                                     > self.backlog_unknown_after):
                    # A position or end the consumer could not give for a while: the backlog
                    # is unknown (NaN), not the last figure, which stayed exported however old.
                    # One failed tick keeps the last measure: a NaN compares false and
                    # restarted PipelineStalled's 10 minutes (`for:`) at every failed tick.
                    self.metrics.raw_backlog.set(math.nan)
                log.debug("enrich: tick not sent: %r", exc)

    async def heartbeat(self) -> None:
        """Beat once a metadata round trip to the broker succeeds: the beat's age is the outage."""
        await beat_while(self.producer.client, self.metrics, lambda: not self.stopping)


async def beat_while(client: Any, metrics: Metrics, running: Callable[[], bool]) -> None:
    """Every second while running(): a metadata round trip to the broker through `client` (an
    aiokafka client), and a heartbeat (`veille_heartbeat_timestamp_seconds`, and
    `veille_heartbeat_age_seconds` from then on) when it succeeds."""
    while running():
        try:
            await asyncio.wait_for(client.fetch_all_metadata(), 2.0)
            metrics.beat()
        except Exception:  # noqa: BLE001 (any failure is "no beat")
            pass
        await asyncio.sleep(1.0)


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    fut.set_exception(exc)
    return fut


class Abandoned(Exception):
    """Delivery given up because the stage is stopping: the batch stays uncommitted."""


def _describe(exc: BaseException | None) -> str:
    """An error as a log line names it: its type and message, once (a KafkaError's message
    already has its type: `[Error 19] NotEnoughReplicasError`)."""
    if exc is None:
        return "no error given"
    name, text = type(exc).__name__, str(exc)
    return text if name in text else f"{name}: {text}" if text else name


async def _error(fut: Any) -> Exception | None:
    """None once the send `fut` went through; else why it failed."""
    try:
        await fut
        return None
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("send failed: %r", exc)
        return exc


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands aiokafka's rebalance callbacks to the stage."""

    def __init__(self, stage: EnrichStage) -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.stage.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.stage.assigned(assigned)


def install(app: Any, settings: Settings, enricher: Enricher, metrics: Metrics) -> EnrichStage:
    """Run the enrichment stage as a service of the Faust app (started and stopped with it)."""
    import mode

    stage = EnrichStage(settings, enricher, metrics)

    class EnrichService(mode.Service):
        async def on_start(self) -> None:
            await stage.start()
            for loop in stage.loops():
                self.add_future(loop)

        async def on_stop(self) -> None:
            await stage.stop()

    app.service(EnrichService)
    return stage
