"""Bad input at scale: 10,000 malformed raw messages among 10,000 good ones, through a real worker."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams.records import DLQ_REASONS
from streams.topics import MENTIONS_DLQ, MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics
from tests.conftest import ROOT
from veille.settings import Settings

pytestmark = pytest.mark.integration

WATCHLIST = str(ROOT / "tests/data/watchlist.toml")
SEED = 20261123
N_GOOD = 10_000  # distinct good mentions, each to be enriched exactly once
N_BAD = 10_000  # malformed messages, each to be dead-lettered with its reason
N_DUPLICATES = 300  # extra copies of good mentions (half identical, half collected again, edited)
N_UNKEYED = 200  # good mentions sent without a key: re-keyed by the agent, then enriched
N_MISKEYED = 100  # good mentions keyed by something else than their id: the same
N_TAIL = 50  # good mentions sent after everything else: the enrichment kept going
DEEP = 10_000  # nesting levels: far beyond Python's recursion limit
MB = 1_000_000
#: Time allowed for the worker to process everything; a normal run needs a fraction of it.
DEADLINE_SECONDS = 150.0

Mention = dict[str, Any]
Value = bytes | None


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


# --- good mentions --------------------------------------------------------------------------

WORDS = {
    "en": ("the network is down again today", "I really love the new phone", "worst support ever",
           "great coffee and friendly staff", "the app keeps crashing, so annoying",
           "nothing special, it works"),
    "fr": ("le réseau est encore en panne", "je suis très content du service", "vraiment nul",
           "le meilleur croissant de Paris", "service client injoignable, je suis déçu",
           "rien à signaler"),
    "es": ("la red no funciona otra vez", "me encanta el nuevo teléfono", "un servicio horrible"),
}
BRANDS = ("Acme", "Acme Mobile", "Boréal", "#AcmeDown", "@borealcafe")


def good_text(rng: random.Random, i: int) -> str:
    lang = rng.choice(("en", "en", "fr", "fr", "es"))
    text = f"{rng.choice(WORDS[lang])} #{i}"
    return f"{rng.choice(BRANDS)}: {text}" if rng.random() < 0.15 else text


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def good_variant(rng: random.Random, m: Mention, now: datetime) -> str:
    """Turn a plain valid mention into one of many valid shapes; returns the variant's name."""
    kind = rng.choice((
        "plain", "plain", "plain", "plain", "iso_z_millis", "naive_iso", "offset_iso",
        "epoch_int", "epoch_float", "ahead_within_limit", "old_within_limit", "minimal",
        "optional_nulls", "full_audience", "unknown_audience_key", "language_hint",
        "collected_at", "extra_scalar", "extra_object", "extra_list", "extra_nested_50",
        "platform_case", "unicode_text", "unicode_id",
    ))
    created = now - timedelta(seconds=rng.randrange(1, 30 * 86400))
    if kind == "iso_z_millis":
        m["created_at"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    elif kind == "naive_iso":  # a time without offset is UTC
        m["created_at"] = created.replace(tzinfo=None).isoformat()
    elif kind == "offset_iso":
        m["created_at"] = created.astimezone(timezone(timedelta(hours=2))).isoformat()
    elif kind == "epoch_int":
        m["created_at"] = int(created.timestamp())
    elif kind == "epoch_float":
        m["created_at"] = created.timestamp()
    elif kind == "ahead_within_limit":  # max_future is 1 h
        m["created_at"] = (now + timedelta(minutes=20)).isoformat()
    elif kind == "old_within_limit":  # max_age is 365 days
        m["created_at"] = (now - timedelta(days=360)).isoformat()
    elif kind == "minimal":
        for k in ("author", "url", "audience"):
            m.pop(k)
    elif kind == "optional_nulls":
        m.update(author=None, url=None, language=None, audience=None, collected_at=None)
    elif kind == "full_audience":
        m["audience"] = {"followers": 10**12, "likes": 0, "shares": 3, "replies": 4, "views": 5}
    elif kind == "unknown_audience_key":
        m["audience"] = {"followers": 1, "retweets": "many", "reactions": {"x": -1}}
    elif kind == "language_hint":
        m["language"] = " FR "
    elif kind == "collected_at":
        m["collected_at"] = (now - timedelta(seconds=5)).isoformat()
    elif kind == "extra_scalar":  # unknown fields are ignored (README: forward compatibility)
        m.update(lang_confidence=0.3, retweeted=True, geo=None)
    elif kind == "extra_object":
        m["place"] = {"city": "Lyon", "country": "FR", "coords": [45.76, 4.83]}
    elif kind == "extra_list":
        m["hashtags"] = ["#a", "#b", 3, None]
    elif kind == "extra_nested_50":
        m["thread"] = json.loads(nested(50))
    elif kind == "platform_case":
        m["platform"] = "  Mastodon "
    elif kind == "unicode_text":
        m["text"] = f"{m['text']} 😡 日本語 עברית ✓"
    elif kind == "unicode_id":
        m["id"] = f"{m['id']}-é✓"
    return kind


def rare_good(i: int, m: Mention, max_chars: int) -> str:
    """The few large good ones: a text at the limit exactly, a big unknown field."""
    kind = ("text_at_limit", "text_at_limit_multibyte", "extra_field_200kb", "id_256_chars")[i % 4]
    if kind == "text_at_limit":
        m["text"] = ("Acme works fine " * (max_chars // 16 + 1))[:max_chars]
    elif kind == "text_at_limit_multibyte":
        m["text"] = "é" * max_chars
    elif kind == "extra_field_200kb":
        m["raw_html"] = "<p>" + "x" * 200_000 + "</p>"
    else:
        m["id"] = (m["id"] + "-" + "x" * 256)[:256]
    return kind


# --- bad messages ---------------------------------------------------------------------------

def _set(**kw: Any) -> Callable[[Mention, datetime], Value]:
    def make(m: Mention, now: datetime) -> Value:
        m.update(kw)
        return dumps(m).encode()
    return make


def _drop(name: str) -> Callable[[Mention, datetime], Value]:
    def make(m: Mention, now: datetime) -> Value:
        del m[name]
        return dumps(m).encode()
    return make


def _created(delta: timedelta | None = None, literal: Any = None,
             epoch: bool = False) -> Callable[[Mention, datetime], Value]:
    def make(m: Mention, now: datetime) -> Value:
        if delta is not None:
            t = now + delta
            m["created_at"] = int(t.timestamp()) if epoch else t.isoformat()
        else:
            m["created_at"] = literal
        return dumps(m).encode()
    return make


def _text_bytes(raw: bytes) -> Callable[[Mention, datetime], Value]:
    """A valid mention whose text holds these bytes verbatim (not valid UTF-8)."""
    def make(m: Mention, now: datetime) -> Value:
        m["text"] = "@@"
        return dumps(m).encode().replace(b"@@", b"Acme " + raw + b" down")
    return make


def _const(value: Value) -> Callable[[Mention, datetime], Value]:
    return lambda m, now: value


def _utf16(m: Mention, now: datetime) -> Value:
    return dumps(m).encode("utf-16")  # with its BOM, \xff\xfe


def _latin1(m: Mention, now: datetime) -> Value:
    m["text"] = "Acme, je suis déçu"
    return dumps(m).encode("latin-1")


def _cut_multibyte(m: Mention, now: datetime) -> Value:
    return dumps(m).encode() + "€".encode()[:2]


def _truncated(m: Mention, now: datetime) -> Value:
    s = dumps(m)
    return s[: len(m["id"]) + len(s) // 2].encode()


def _deep_extra(m: Mention, now: datetime) -> Value:
    return (dumps(m)[:-1] + ', "thread": ' + nested(DEEP) + "}").encode()


#: label -> (expected dead-letter reason, how to spoil a valid mention, relative weight)
BAD_KINDS: dict[str, tuple[str, Callable[[Mention, datetime], Value], float]] = {
    # not UTF-8
    "utf16_with_bom": ("undecodable_bytes", _utf16, 3),
    "latin1_text": ("undecodable_bytes", _latin1, 3),
    "stray_continuation_byte": ("undecodable_bytes", _text_bytes(b"\x80"), 3),
    "overlong_encoding": ("undecodable_bytes", _text_bytes(b"\xc0\xaf"), 3),
    "encoded_surrogate": ("undecodable_bytes", _text_bytes(b"\xed\xa0\x80"), 3),
    "cut_multibyte_at_end": ("undecodable_bytes", _cut_multibyte, 3),
    "binary_garbage": ("undecodable_bytes", _const(b"\xff\x00\x81binary\x9c\xfe"), 3),
    # not JSON
    "truncated_json": ("invalid_json", _truncated, 3),
    "python_repr": ("invalid_json", lambda m, now: repr(m).encode(), 3),
    "trailing_comma": ("invalid_json", lambda m, now: (dumps(m)[:-1] + ",}").encode(), 3),
    "unquoted_key": ("invalid_json", lambda m, now: dumps(m).replace('"id"', "id").encode(), 3),
    "comment": ("invalid_json", lambda m, now: ("// webhook\n" + dumps(m)).encode(), 3),
    "two_objects": ("invalid_json", lambda m, now: (dumps(m) + dumps(m)).encode(), 3),
    "plain_text": ("invalid_json", _const(b"Acme is down again"), 3),
    "empty_value": ("invalid_json", _const(b""), 3),
    "blank_value": ("invalid_json", _const(b" \n\t "), 3),
    "deep_list_10000": ("invalid_json", _const(("[" * DEEP + "]" * DEEP).encode()), 0.25),
    "deep_object_10000": ("invalid_json", _const(nested(DEEP).encode()), 0.25),
    "deep_extra_field_10000": ("invalid_json", _deep_extra, 0.25),
    # JSON, not an object
    "empty_list": ("not_an_object", _const(b"[]"), 2),
    "list_of_numbers": ("not_an_object", _const(b"[1, 2, 3]"), 2),
    "list_of_mention": ("not_an_object", lambda m, now: dumps([m]).encode(), 2),
    "integer": ("not_an_object", _const(b"42"), 2),
    "float": ("not_an_object", _const(b"-3.5e2"), 2),
    "string": ("not_an_object", _const(b'"Acme is down"'), 2),
    "double_encoded": ("not_an_object", lambda m, now: dumps(dumps(m)).encode(), 2),
    "null_literal": ("not_an_object", _const(b"null"), 2),
    "boolean": ("not_an_object", _const(b"true"), 2),
    "tombstone": ("not_an_object", _const(None), 2),  # a Kafka record with a null value
    # required field absent or null
    **{f"missing_{f}": ("missing_field", _drop(f), 2)
       for f in ("id", "source", "platform", "text", "created_at")},
    **{f"null_{f}": ("missing_field", _set(**{f: None}), 1)
       for f in ("id", "source", "platform", "text", "created_at")},
    "empty_object": ("missing_field", _const(b"{}"), 2),
    # wrong types and values
    "id_number": ("invalid_field", _set(id=12345), 1),
    "id_empty": ("invalid_field", _set(id=""), 1),
    "id_blank": ("invalid_field", _set(id="   "), 1),
    "id_too_long": ("invalid_field", _set(id="x" * 257), 1),
    "id_list": ("invalid_field", _set(id=["a"]), 1),
    "source_number": ("invalid_field", _set(source=7), 1),
    "source_empty": ("invalid_field", _set(source=""), 1),
    "platform_object": ("invalid_field", _set(platform={"name": "twitter"}), 1),
    "platform_blank": ("invalid_field", _set(platform="  "), 1),
    "text_number": ("invalid_field", _set(text=42), 2),
    "text_list": ("invalid_field", _set(text=["Acme", "down"]), 1),
    "text_object": ("invalid_field", _set(text={"body": "Acme"}), 1),
    "text_boolean": ("invalid_field", _set(text=True), 1),
    "created_at_list": ("invalid_field", _set(created_at=[2026, 1, 1]), 2),
    "created_at_object": ("invalid_field", _set(created_at={"$date": 1}), 1),
    "created_at_boolean": ("invalid_field", _set(created_at=True), 1),
    "created_at_words": ("invalid_field", _set(created_at="yesterday"), 1),
    "created_at_impossible_date": ("invalid_field", _set(created_at="2026-13-45T99:00:00Z"), 1),
    "created_at_epoch_overflow": ("invalid_field", _set(created_at=1e20), 1),
    "created_at_before_year_1": ("invalid_field", _set(created_at="0001-01-01T00:00:00+01:00"), 1),
    "author_number": ("invalid_field", _set(author=3), 1),
    "author_too_long": ("invalid_field", _set(author="a" * 3000), 1),
    "url_object": ("invalid_field", _set(url={"href": "x"}), 1),
    "language_number": ("invalid_field", _set(language=33), 1),
    "language_too_long": ("invalid_field", _set(language="french-canadian-x"), 1),
    "audience_string": ("invalid_field", _set(audience="lots"), 2),
    "audience_list": ("invalid_field", _set(audience=[1, 2]), 1),
    "audience_number": ("invalid_field", _set(audience=100), 1),
    "audience_negative": ("invalid_field", _set(audience={"likes": -1}), 1),
    "audience_text_figure": ("invalid_field", _set(audience={"followers": "10"}), 1),
    "audience_boolean": ("invalid_field", _set(audience={"shares": True}), 1),
    "audience_float": ("invalid_field", _set(audience={"views": 1.5}), 1),
    "collected_at_words": ("invalid_field", _set(collected_at="at some point"), 1),
    "collected_at_list": ("invalid_field", _set(collected_at=[]), 1),
    # empty text
    "text_empty": ("empty_text", _set(text=""), 3),
    "text_space": ("empty_text", _set(text=" "), 2),
    "text_whitespace": ("empty_text", _set(text="\n\t  \r\n"), 2),
    "text_unicode_spaces": ("empty_text", _set(text="\u00a0\u3000\u2003"), 2),
    # too far ahead or back
    "created_in_2_hours": ("created_at_in_future", _created(timedelta(hours=2)), 2),
    "created_in_2_days": ("created_at_in_future", _created(timedelta(days=2)), 2),
    "created_in_2999": ("created_at_in_future", _created(literal="2999-01-01T00:00:00Z"), 1),
    "created_tomorrow_epoch": ("created_at_in_future", _created(timedelta(days=1), epoch=True), 1),
    "created_400_days_ago": ("created_at_too_old", _created(timedelta(days=-400)), 2),
    "created_1970": ("created_at_too_old", _created(literal="1970-01-01T00:00:00Z"), 1),
    "created_epoch_zero": ("created_at_too_old", _created(literal=0), 1),
    "created_year_1": ("created_at_too_old", _created(literal="0001-01-01T00:00:00Z"), 1),
    "created_2_years_ago_epoch": ("created_at_too_old", _created(timedelta(days=-730), epoch=True), 1),
}


def too_large_kinds(max_chars: int) -> list[tuple[str, Callable[[Mention, datetime], Value]]]:
    """Texts above VEILLE_MAX_TEXT_CHARS, up to 1 MB (Tansu took 12 MB records in a probe; the
    producers here and in the worker allow 4 MiB), each with its count."""
    return (
        [("text_limit_plus_one", _set(text=("Acme " * (max_chars // 5 + 1))[:max_chars] + "!"))] * 30
        + [("text_limit_plus_one_multibyte", _set(text="é" * (max_chars + 1)))] * 20
        + [("text_100k_chars", _set(text="Acme is down. " * 7_700))] * 10
        + [("text_1mb_ascii", _set(text="a" * MB))] * 2
        + [("text_1mb_multibyte", _set(text="é" * (MB // 2)))] * 2  # 500k chars, 1 MB of UTF-8
    )


# --- the plan -------------------------------------------------------------------------------

@dataclass
class Plan:
    records: list[tuple[bytes | None, Value]] = field(default_factory=list)
    #: (key, value, reason) of every message that must be dead-lettered
    dead: Counter[tuple[bytes | None, Value, str]] = field(default_factory=Counter)
    #: id -> text of the copy that must be enriched, once
    good: dict[str, str] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    rekeyed: int = 0
    duplicates: int = 0

    @property
    def reasons(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, _, reason), n in self.dead.items():
            out[reason] += n
        return out


def make_plan(now: datetime, max_chars: int, seed: int = SEED) -> Plan:
    rng = random.Random(seed)
    plan = Plan()

    def valid(i: int, prefix: str) -> Mention:
        return {
            "id": f"{prefix}-{i}", "source": "test", "platform": rng.choice(("twitter", "news", "forum")),
            "author": f"user{i % 97}", "text": good_text(rng, i), "url": f"https://example.org/{i}",
            "created_at": (now - timedelta(seconds=rng.randrange(1, 3 * 86400))).isoformat(),
            "audience": {"followers": i % 1000, "likes": i % 7},
        }

    # Good ones: (key, value, id)
    good: list[tuple[bytes | None, bytes, str]] = []
    for i in range(N_GOOD):
        m = valid(i, "good")
        kind = rare_good(i, m, max_chars) if i < 12 else good_variant(rng, m, now)
        plan.good[m["id"]] = m["text"]
        plan.kinds["good:" + kind] += 1
        good.append((m["id"].encode(), dumps(m).encode(), m["id"]))
    tail, good = good[-N_TAIL:], good[:-N_TAIL]

    # Bad ones: a fixed number of large texts, the rest drawn by weight over every other kind.
    bad: list[tuple[bytes | None, Value]] = []
    large = too_large_kinds(max_chars)
    labels = list(BAD_KINDS)
    weights = [BAD_KINDS[k][2] for k in labels]
    drawn = labels + rng.choices(labels, weights, k=N_BAD - len(large) - len(labels))
    for i, label in enumerate([k for k, _ in large] + drawn):
        m = valid(i, "bad")
        key: bytes | None = m["id"].encode()
        if i < len(large):
            reason, value = "text_too_large", large[i][1](m, now)
        else:
            reason, make, _ = BAD_KINDS[label]
            value = make(m, now)
        # A few carry no key at all (never a tombstone: Kafka needs a key or a value).
        if value is not None and rng.random() < 0.02:
            key = None
        plan.kinds[f"bad:{reason}:{label}"] += 1
        plan.dead[(key, value, reason)] += 1
        bad.append((key, value))

    # Some good ones arrive without their id as key: re-keyed by the agent, enriched once.
    for n, j in enumerate(rng.sample(range(len(good)), N_UNKEYED + N_MISKEYED)):
        _, value, mid = good[j]
        good[j] = (None if n < N_UNKEYED else b"not-the-id", value, mid)
    plan.rekeyed = N_UNKEYED + N_MISKEYED

    mixed: list[tuple[bytes | None, Value]] = [(k, v) for k, v, _ in good] + bad
    rng.shuffle(mixed)
    # Duplicates: another copy of a keyed good mention, later in the stream (same key, so the
    # same partition: it arrives after the first). Half identical, half collected again edited.
    positions = {k: n for n, (k, _) in enumerate(mixed) if k is not None and k.startswith(b"good-")}
    originals = rng.sample(sorted(positions), N_DUPLICATES)
    inserts: list[tuple[int, tuple[bytes | None, Value]]] = []
    for n, key in enumerate(originals):
        value = mixed[positions[key]][1]
        assert value is not None
        if n % 2:
            copy = json.loads(value)
            copy["text"] = copy["text"] + " (edited)"
            value = dumps(copy).encode()
        inserts.append((rng.randrange(positions[key] + 1, len(mixed) + 1), (key, value)))
    for at, record in sorted(inserts, key=lambda x: x[0], reverse=True):
        mixed.insert(at, record)
    plan.duplicates = N_DUPLICATES
    plan.records = mixed + [(k, v) for k, v, _ in tail]
    return plan


# --- broker and metrics helpers -------------------------------------------------------------

def produce(settings: Settings, records: list[tuple[bytes | None, Value]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=20,
        batch_size=256 * 1024, max_request_size=4 * 1024 * 1024,
    )
    try:
        topic = settings.topic(MENTIONS_RAW)
        futures = [producer.send(topic, key=k, value=v) for k, v in records]
        producer.flush(60)
        failed = [f.exception for f in futures if not f.succeeded()]
        assert not failed, f"{len(failed)} sends failed, first: {failed[0]!r}"
    finally:
        producer.close()


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def metric(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
           **labels: str) -> float:
    """The sample of `name` with exactly these labels; absent, an AssertionError naming it."""
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} is not in the scrape"
    return samples[key]


class Reader:
    """Reads mentions.enriched and mentions.dlq from the beginning, without a group."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        self.names = {settings.topic(MENTIONS_ENRICHED): "enriched", settings.topic(MENTIONS_DLQ): "dlq"}
        tps = []
        for name in self.names:
            parts = self.consumer.partitions_for_topic(name)
            assert parts, f"{name} does not exist"
            tps += [TopicPartition(name, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning()
        self.got: dict[str, list[Any]] = {"enriched": [], "dlq": []}

    def poll(self) -> None:
        for tp, msgs in self.consumer.poll(timeout_ms=200, max_records=20_000).items():
            self.got[self.names[tp.topic]].extend(msgs)

    def at_end(self) -> bool:
        """Every record the broker held at the last fetch was read (high watermarks of fetch
        responses: Tansu's ListOffsets end offsets are wrong)."""
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None or self.consumer.position(tp) < high:
                return False
        return True

    def close(self) -> None:
        self.consumer.close()


def wait_for(condition: Callable[[], bool], what: str, deadline: float, worker: Any,
             step: Callable[[], None] | None = None) -> None:
    while not condition():
        assert worker.proc.poll() is None, f"worker died while waiting for {what}:\n{worker.log()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if step is not None:
            step()
        else:
            time.sleep(0.2)


# --- the test -------------------------------------------------------------------------------

def test_ten_thousand_bad_messages_among_ten_thousand_good(
    settings: Settings, start_worker: Callable[[Settings, bool], Any]
) -> None:
    settings = settings.with_(watchlist=WATCHLIST)
    ensure_topics(settings)
    plan = make_plan(datetime.now(UTC), settings.max_text_chars)
    assert len(plan.good) == N_GOOD and sum(plan.dead.values()) == N_BAD
    assert set(plan.reasons) == set(DLQ_REASONS) - {"processing_error"}  # every input defect
    expected_reads = len(plan.records) + plan.rekeyed

    started = time.monotonic()
    # The worker boots while the records are produced: the same stream, sooner.
    worker = start_worker(settings, False)
    produce(settings, plan.records)
    produced = time.monotonic() - started
    worker.wait_ready()
    deadline = time.monotonic() + DEADLINE_SECONDS
    reader = Reader(settings)
    try:
        wait_for(lambda: len(reader.got["enriched"]) >= N_GOOD and len(reader.got["dlq"]) >= N_BAD,
                 "the enriched mentions and dead letters", deadline, worker, step=reader.poll)
        # Everything read by the worker, then everything it wrote read here: a duplicate or an
        # extra dead letter would have shown by now.
        wait_for(lambda: metric(scrape(worker.metrics_url), "veille_raw_messages_total")
                 >= expected_reads, "the worker to read every raw message", deadline, worker)
        processed = time.monotonic() - started
        reader.poll()
        wait_for(reader.at_end, "the end of the output topics", deadline, worker, step=reader.poll)
    finally:
        reader.close()
    elapsed = time.monotonic() - started
    samples = scrape(worker.metrics_url)

    # No crash: the process lives, the agent never died or logged a failure.
    assert worker.proc.poll() is None
    log = worker.log_path.read_text(errors="replace")
    for sign in ("Traceback", "crashed", "Crashed", "processing error"):
        assert sign not in log, f"{sign!r} in the worker log:\n{worker.log()}"

    # Every good mention enriched exactly once, keyed by its id, from the first copy.
    enriched = reader.got["enriched"]
    values = [json.loads(r.value) for r in enriched]
    ids = Counter(v["id"] for v in values)
    assert not {i: n for i, n in ids.items() if n > 1}, "enriched more than once"
    assert set(ids) == set(plan.good), (
        f"missing {len(set(plan.good) - set(ids))}, unexpected {len(set(ids) - set(plan.good))}")
    for r, v in zip(enriched, values, strict=True):
        assert r.key == v["id"].encode()
        assert v["text"] == plan.good[v["id"]], v["id"]  # never the edited second copy
        assert v["schema_version"] == 1

    # Every bad message dead-lettered once, as sent (key and bytes), with the reason of its defect.
    dead = reader.got["dlq"]
    raw_topic = settings.topic(MENTIONS_RAW).encode()
    got: Counter[tuple[bytes | None, Value, str]] = Counter()
    origins = set()
    for r in dead:
        headers = dict(r.headers)
        reason = headers["veille-dlq-reason"].decode()
        assert reason in DLQ_REASONS
        assert headers["veille-dlq-stage"] == b"enrich" and headers["veille-dlq-topic"] == raw_topic
        assert headers["veille-dlq-detail"] and headers["veille-dlq-failed-at"]
        origins.add((int(headers["veille-dlq-partition"]), int(headers["veille-dlq-offset"])))
        got[(r.key, r.value, reason)] += 1
    assert len(origins) == len(dead) == N_BAD  # one dead letter per raw record
    got_reasons: Counter[str] = Counter()
    for (_, _, reason), n in got.items():
        got_reasons[reason] += n
    assert got_reasons == plan.reasons
    wrong = [(k, (v or b"")[:80], r, n) for (k, v, r), n in (plan.dead - got).items()]
    assert not wrong, f"{len(wrong)} dead letters missing or with another reason, e.g. {wrong[:5]}"

    # The worker's own counts agree.
    for reason in DLQ_REASONS:
        assert metric(samples, "veille_dead_letters_total", reason=reason, stage="enrich") == \
            plan.reasons[reason], reason
    assert metric(samples, "veille_raw_messages_total") == expected_reads
    assert metric(samples, "veille_raw_rekeyed_total") == plan.rekeyed
    assert metric(samples, "veille_duplicates_dropped_total") == plan.duplicates
    # A mention of two brands counts for each of them.
    per_brand = sum(max(1, len(v["brands"])) for v in values)
    total = sum(v for (n, _), v in samples.items() if n == "veille_mentions_enriched_total")
    assert total == per_brand
    assert metric(samples, "veille_pipeline_latency_seconds_count", since="received") == N_GOOD
    assert metric(samples, "veille_agent_send_errors_total") == 0
    # The worker still beats after the storm: its heartbeat moves on between two scrapes.
    beat = metric(samples, "veille_heartbeat_timestamp_seconds")
    assert beat > 0
    wait_for(lambda: metric(scrape(worker.metrics_url), "veille_heartbeat_timestamp_seconds") > beat,
             "a heartbeat after the last scrape", time.monotonic() + 60, worker)
    print(f"\n{len(plan.records)} raw records, {N_GOOD} enriched, {N_BAD} dead letters, "
          f"{plan.duplicates} duplicates dropped, {plan.rekeyed} re-keyed in {elapsed:.1f} s "
          f"(produced at {produced:.1f} s, all read by the worker at {processed:.1f} s); "
          f"{len(plan.kinds)} kinds; reasons {dict(sorted(plan.reasons.items()))}")


def test_lone_surrogate_escapes_are_dead_letters_not_crashes(
    settings: Settings, start_worker: Callable[[Settings, bool], Any]
) -> None:
    settings = settings.with_(watchlist=WATCHLIST)
    ensure_topics(settings)
    now = datetime.now(UTC).isoformat()

    def mention(mid: str, **kw: Any) -> tuple[bytes, bytes]:
        m = {"id": mid, "source": "test", "platform": "twitter", "text": f"Acme {mid}",
             "created_at": now, **kw}
        # ensure_ascii: the surrogates travel as \uXXXX escapes, in valid UTF-8 bytes.
        return mid.encode("utf-8", "surrogatepass"), json.dumps(m).encode()

    # Two places of the crash: the enriched record's encoding (any text field), the id's.
    poison = [mention("lone-1", text="Acme \ud83d down"), mention("lone-\ud800")]
    good = [mention(f"after-{i}") for i in range(30)]
    records: list[tuple[bytes | None, Value]] = [*poison, *good]
    worker = start_worker(settings, False)
    produce(settings, records)
    worker.wait_ready()
    deadline = time.monotonic() + 60
    reader = Reader(settings)
    try:
        wait_for(lambda: metric(scrape(worker.metrics_url), "veille_raw_messages_total")
                 >= len(records), "the worker to read every raw message", deadline, worker)
        wait_for(lambda: len(reader.got["enriched"]) >= len(good), "the good mentions", deadline,
                 worker, step=reader.poll)
        wait_for(reader.at_end, "the end of the output topics", deadline, worker, step=reader.poll)
    finally:
        reader.close()
        crashed = "Crashed" in worker.log_path.read_text(errors="replace")
    if crashed:
        # The crashed agent's events are never acknowledged: SIGTERM would wait 30 s for them.
        worker.proc.kill()
        worker.proc.wait()
    assert not crashed, worker.log()
    assert sorted(json.loads(r.value)["id"] for r in reader.got["enriched"]) == \
        sorted(f"after-{i}" for i in range(30))
    assert sorted(r.value for r in reader.got["dlq"]) == sorted(v for _, v in poison)
    for r in reader.got["dlq"]:
        assert dict(r.headers)["veille-dlq-reason"].decode() == "invalid_field"
