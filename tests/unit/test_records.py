"""RawMention validation: every bad input gets a bounded reason, good input a clean record."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from streams.records import (
    DLQ_REASONS,
    EnrichedMention,
    InvalidMention,
    Limits,
    dumps,
    parse_raw,
    parse_time,
)
from tests.conftest import ROOT
from tests.schemas import published, strict
from veille.sentiment.base import Sentiment

NOW = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)


def raw(**fields: object) -> bytes:
    base: dict[str, object] = {
        "id": "m1", "source": "test", "platform": "Twitter", "author": "someone",
        "text": "hello Acme", "url": "https://x.test/1", "created_at": "2026-01-06T08:59:00Z",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def reason(payload: bytes | None, limits: Limits = Limits()) -> str:
    with pytest.raises(InvalidMention) as exc:
        parse_raw(payload, now=NOW, limits=limits)
    assert exc.value.reason in DLQ_REASONS
    return exc.value.reason


def test_good_mention_is_normalised() -> None:
    m = parse_raw(raw(created_at="2026-01-06T10:59:00+02:00", language="FR",
                      audience={"followers": 5, "likes": 1}, extra="ignored"), now=NOW)
    assert m.created_at == datetime(2026, 1, 6, 8, 59, tzinfo=UTC)
    assert m.platform == "twitter" and m.language == "fr"
    assert m.audience == {"followers": 5, "likes": 1}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\xff\xfe", "undecodable_bytes"),
        (b"{nope", "invalid_json"),
        (b"[" * 50_000, "invalid_json"),
        (b"", "invalid_json"),
        (None, "not_an_object"),
        (b'"a string"', "not_an_object"),
        (raw(text=...), "missing_field"),
        (raw(id=...), "missing_field"),
        (raw(created_at=...), "missing_field"),
        (raw(text=12), "invalid_field"),
        (raw(id=""), "invalid_field"),
        (raw(platform=["x"]), "invalid_field"),
        (raw(created_at="yesterday"), "invalid_field"),
        (raw(created_at=True), "invalid_field"),
        (raw(created_at="0001-01-01T00:00:00+01:00"), "invalid_field"),  # before year 1 in UTC
        # An int beyond a float's range: was an OverflowError out of parse_raw.
        pytest.param(raw(created_at=-(10**400)), "invalid_field", id="created_at=-10**400"),
        pytest.param(raw(created_at=10**4000), "invalid_field", id="created_at=10**4000"),
        (raw(audience={"followers": -1}), "invalid_field"),
        (raw(audience={"likes": "many"}), "invalid_field"),
        (raw(audience=[1]), "invalid_field"),
        (raw(text=" \n\t "), "empty_text"),
        (raw(text="a" * 101), "text_too_large"),
        (raw(created_at="2026-01-06T12:00:00Z"), "created_at_in_future"),
        (raw(created_at="1970-01-01T00:00:00Z"), "created_at_too_old"),
    ],
)
def test_bad_input_reasons(payload: bytes | None, expected: str) -> None:
    assert reason(payload, Limits(max_text_chars=100)) == expected


def test_reason_names_the_field() -> None:
    with pytest.raises(InvalidMention) as exc:
        parse_raw(raw(audience={"shares": 1.5}), now=NOW)
    assert exc.value.field == "audience.shares"
    with pytest.raises(InvalidMention) as exc:  # an int beyond a float's range
        parse_raw(raw(created_at=10**400), now=NOW)
    assert (exc.value.field, exc.value.detail) == ("created_at", "created_at is out of range")
    for when in ("2026-01-06T12:00:00Z", "1970-01-01T00:00:00Z"):  # ahead of now, too old
        with pytest.raises(InvalidMention) as exc:
            parse_raw(raw(created_at=when), now=NOW)
        assert exc.value.field == "created_at", exc.value.reason


@pytest.mark.parametrize("field", ["text", "id", "author"])
def test_lone_surrogate_escape_is_an_invalid_field(field: str) -> None:
    """Valid JSON, not valid Unicode: refused here, not a crash when re-encoded downstream."""
    payload = raw(**{field: "Acme \ud83d down"})
    assert b"\\ud83d" in payload
    with pytest.raises(InvalidMention) as exc:
        parse_raw(payload, now=NOW)
    assert (exc.value.reason, exc.value.field) == ("invalid_field", field)
    assert parse_raw(raw(text="Acme \U0001F600 ok"), now=NOW).text == "Acme \U0001F600 ok"


def test_times_accept_epoch_and_naive_as_utc() -> None:
    assert parse_time(0, "t") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_time("2026-01-06T09:00:00", "t") == NOW
    with pytest.raises(InvalidMention):
        parse_time(float("nan"), "t")


def test_enriched_record_matches_published_schema() -> None:
    schema = strict("enriched_mention.v1.json")
    m = parse_raw(raw(audience={"followers": 3}), now=NOW)
    for sentiment in (Sentiment(0.5, 0.4, 0.6, 0.0, "positive"), None):
        e = EnrichedMention(
            raw=m, language="en", language_confidence=0.93, sentiment=sentiment,
            brands=("acme",), rules=("acme:alias:Acme",), received_at=NOW,
            processed_at=NOW + timedelta(milliseconds=3),
        )
        doc = json.loads(e.to_json())
        jsonschema.validate(doc, schema)
        assert doc["schema_version"] == 1 and doc["created_at"] == "2026-01-06T08:59:00.000Z"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dict(doc, sentiment={"compound": 2}), schema)


@pytest.mark.parametrize("obj", [
    {"id": "m1", "t": 1733212800.123, "neg": True, "aud": 0, "text": "café, «ça va» 😀", "p": 3},
    {"compound": -0.0, "small": 0.1, "big": 1e16, "n": [1, None, True, False], "e": {}},
    {"control": "a\x00b\x1fc\x7f", "quote": 'he said "no" \\ /', "lines": "a\u2028b\u2029c\nd"},
    [2**63 - 1, -(2**63), 2**64 - 1],
])
def test_dumps_writes_what_the_standard_library_writes(obj: object) -> None:
    assert dumps(obj) == json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("obj", [{"followers": 10**30}, {"n": -(2**64)}, {1: "int key"}])
def test_dumps_writes_what_orjson_refuses_with_the_standard_library(obj: object) -> None:
    assert dumps(obj) == json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def test_dumps_refuses_a_lone_surrogate_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        dumps({"text": "a\ud800b"})


def test_dumps_writes_nan_as_null_which_strict_parsers_read() -> None:
    assert json.loads(dumps({"x": float("nan")}), parse_constant=lambda c: pytest.fail(c)) == {"x": None}


#: A child process holds 20,000 encoded records of an enriched record's size (~400 bytes each,
#: 8 MB of bytes) and prints how much its resident memory grew.
HOLD_ENCODED = """
import sys
from streams.records import dumps
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
record = {"id": "rss-0", "brand": "acme", "lang": "fr", "sentiment": {"compound": -0.4588},
          "text": "le service client ne répond plus depuis trois jours, c'est inadmissible " * 4}
dumps(record)
before = rss()
held = [dumps(dict(record, id=f"rss-{i}")) for i in range(20000)]
print(rss() - before)
"""


def test_held_records_cost_their_size_not_the_encoders_buffer() -> None:
    """orjson's shrunk output buffers left a hole of ~4 KiB per record held (20,000 held: 83 MB
    instead of 13): dumps copies them to their exact size."""
    out = subprocess.run([sys.executable, "-c", HOLD_ENCODED], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    grew_mb = float(out.stdout)
    assert grew_mb < 30, f"20,000 held records grew RSS by {grew_mb:.1f} MB"


@pytest.mark.parametrize("depth", [10, 900, 1000, 1020])
def test_nesting_is_refused_where_json_loads_refuses_it(depth: int) -> None:
    """parse_raw decodes plain messages with orjson, which accepts nesting to 1024 where
    json.loads stops at the recursion limit: a deeply nested message is still refused."""
    payload = raw()[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"
    if depth >= 1000:
        assert reason(payload) == "invalid_json"
    else:
        assert parse_raw(payload, now=NOW).id == "m1"


@pytest.mark.parametrize("figure", [2**53, 10**30, 2**64 - 1, 2**64])
def test_an_audience_figure_consumers_cannot_read_exactly_is_refused(figure: int) -> None:
    """Consumers in JavaScript read JSON numbers as doubles (exact to 2^53 - 1), Java's and
    Go's int64 overflow at 2^63: such a figure is bad input, dead-lettered with its reason, not
    written on mentions.enriched. (orjson reads an integer beyond 64 bits as a float: such a
    message goes through json.loads, and gets the same answer.)"""
    assert reason(raw(audience={"followers": figure})) == "invalid_field"
    with pytest.raises(InvalidMention, match=r"audience.followers is above 9007199254740991"):
        parse_raw(raw(audience={"followers": figure}), now=NOW)
    top = parse_raw(raw(audience={"views": 2**53 - 1}), now=NOW)
    assert top.audience == {"views": 2**53 - 1} and type(top.audience["views"]) is int
    schema = published("raw_mention.v1.json")
    jsonschema.validate(json.loads(raw(audience={"views": 2**53 - 1})), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(raw(audience={"followers": figure})), schema)


def test_the_published_enriched_schema_lets_consumers_take_added_fields() -> None:
    """A field added within version 1 (as `triage` was) must not break a consumer validating
    with its copy of the schema; veille itself writes nothing the schema does not name."""
    m = parse_raw(raw(), now=NOW)
    doc = json.loads(EnrichedMention(
        raw=m, language="en", language_confidence=0.9, sentiment=None, brands=(), rules=(),
        received_at=NOW, processed_at=NOW).to_json())
    newer = {**doc, "added_later": 1, "audience": {**(doc["audience"] or {}), "saves": 2}}
    jsonschema.validate(newer, published("enriched_mention.v1.json"))
    jsonschema.validate(doc, strict("enriched_mention.v1.json"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(newer, strict("enriched_mention.v1.json"))


def test_iso_writes_what_isoformat_writes() -> None:
    import random
    from datetime import timezone

    from streams.records import iso

    rnd = random.Random(1)
    lo = datetime(1, 1, 1, tzinfo=UTC)
    span = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - lo) // timedelta(microseconds=1)
    times = [lo + timedelta(microseconds=rnd.randrange(span + 1)) for _ in range(20_000)]
    times += [lo, NOW, NOW.replace(microsecond=999_999), NOW.astimezone(timezone(timedelta(hours=5)))]
    for dt in times:
        assert iso(dt) == dt.astimezone(UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"), dt


@pytest.mark.parametrize("changes", [
    {"id": "  "}, {"source": "\t"}, {"platform": ""}, {"text": " \n "}, {"source": "s" * 2049},
    {"author": "a" * 2049}, {"url": "u" * 2049}, {"created_at": 1e12}, {"collected_at": 1e12},
    {"created_at": -1e12}, {"audience": {"likes": -1}},
    # Found in review (2026-12-05): any string was a time to the schema; 1.5 is no integer.
    {"created_at": "yesterday"}, {"created_at": ""}, {"collected_at": "n/a"},
    {"created_at": "2026-02-30T10:00:00Z"}, {"audience": {"likes": 1.5}},
])
def test_the_raw_schema_refuses_what_the_stage_dead_letters(changes: dict) -> None:
    """Collector authors validate against the published schema: what it accepts must not be
    dead-lettered (a blank id, a time in milliseconds went to mentions.dlq though valid)."""
    payload = json.loads(raw())
    payload.update(changes)
    with pytest.raises(InvalidMention):
        parse_raw(json.dumps(payload).encode(), now=NOW)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, published("raw_mention.v1.json"))


def test_integral_numbers_and_lower_case_are_what_the_schema_says() -> None:
    """Found in review (2026-12-05): 1.0 and 1e3 are integers to JSON Schema (the published
    schema accepted them) and were dead-lettered; a platform of 2,048 "İ" was 4,096 characters
    once lower-cased (past the contract, refused when the mention was sent again)."""
    payload = {**json.loads(raw()), "audience": {"likes": 1.0, "views": 1e3},
               "platform": "İ" * 2048, "language": "İ" * 16}
    jsonschema.validate(payload, published("raw_mention.v1.json"))
    m = parse_raw(json.dumps(payload).encode(), now=NOW)
    assert m.audience == {"likes": 1, "views": 1000}
    assert all(type(v) is int for v in m.audience.values())
    assert len(m.platform) == 2048 and len(m.language or "") == 16
    again = json.loads(m.to_json())  # what a re-keyed copy carries: valid, taken again
    jsonschema.validate(again, published("raw_mention.v1.json"))
    assert parse_raw(m.to_json(), now=NOW).platform == m.platform


def test_what_the_raw_schema_accepts_at_its_edges_the_stage_takes() -> None:
    payload = {**json.loads(raw()), "id": "i" * 256, "source": "s" * 2048, "url": "u" * 2048,
               "author": None, "collected_at": NOW.timestamp(), "created_at": NOW.timestamp() - 60,
               "audience": {"views": 2**53 - 1}}
    jsonschema.validate(payload, published("raw_mention.v1.json"))
    assert parse_raw(json.dumps(payload).encode(), now=NOW).id == "i" * 256


def test_each_limit_takes_what_is_at_it_and_refuses_what_is_past_it() -> None:
    """The limits as the README states them, at their exact edges: a text of max_text_chars
    characters, a mention dated max_future ahead or max_age back, an audience figure of 0 are
    taken; one character, one millisecond or one person more, or -1, are dead letters."""
    limits = Limits(max_text_chars=50, max_future=timedelta(minutes=10), max_age=timedelta(days=2))

    def at(delta: timedelta) -> str:
        return (NOW + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    assert parse_raw(raw(text="x" * 50), now=NOW, limits=limits).text == "x" * 50
    assert reason(raw(text="x" * 51), limits) == "text_too_large"
    assert parse_raw(raw(created_at=at(timedelta(minutes=10))), now=NOW, limits=limits)
    assert reason(raw(created_at=at(timedelta(minutes=10, milliseconds=1))), limits) == \
        "created_at_in_future"
    assert parse_raw(raw(created_at=at(-timedelta(days=2))), now=NOW, limits=limits)
    assert reason(raw(created_at=at(-timedelta(days=2, milliseconds=1))), limits) == "created_at_too_old"
    assert parse_raw(raw(audience={"followers": 0}), now=NOW).audience == {"followers": 0}
    assert reason(raw(audience={"followers": -1})) == "invalid_field"


def test_a_content_id_is_its_prefix_and_32_hex_digits_of_sha256() -> None:
    """As its docstring and the README's webhook answers (`webhook-8017cd41...`) say: the prefix,
    then the first 32 hex digits of the SHA-256 of the six fields as a JSON array. Another length
    or encoding would change every id, and the de-duplication of an item sent again with it."""
    import hashlib

    from streams.records import content_id

    fields = ["webhook", "Twitter", "Zoé", "https://x.test/1", "hello Acme", "2026-01-06T08:59:00Z"]
    made = content_id("webhook", *fields)
    expected = hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]
    assert made == f"webhook-{expected}" and len(expected) == 32
    assert made != content_id("webhook", *fields[:4], "hello", fields[5])


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", " JaVaScRiPt:alert(1)",
                                 "java\tscript:alert(1)", "data:text/html,<script>x</script>",
                                 "vbscript:msgbox(1)", "file:///etc/passwd", "//evil.example/x", "acme",
                                 # A long s (U+017F) is an "s" to Python's IGNORECASE, not to
                                 # the schemas' [Ss]: no scheme a browser knows either.
                                 "http\u017f://x.test/1"])
def test_a_url_that_is_no_web_address_is_dropped_not_the_mention(url: str) -> None:
    """Whatever the source (a webhook push relays a third party's fields, a file replayed), a
    mention's url reaches the moderators' web screen as a case's link: a `javascript:` one runs
    a script in their session at a click. Only an http(s) address is kept (until 2026-12-06 the
    webhook and replay passed any on); the mention is enriched all the same, without it."""
    mention = parse_raw(raw(url=url), now=NOW)
    assert (mention.url, mention.text) == (None, "hello Acme")
    for good in ("https://x.test/1", "HTTP://News.Example/a b"):
        assert parse_raw(raw(url=good), now=NOW).url == good
    # The published schemas say so to consumers, as the enriched records and cases are written.
    for name in ("enriched_mention.v1.json", "moderation_item.v1.json"):
        only_url = {"properties": {"url": published(name)["properties"]["url"]}}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"url": url}, only_url)
        for good in ("https://x.test/1", "HTTP://News.Example/a b", None):
            jsonschema.validate({"url": good}, only_url)


@pytest.mark.parametrize("payload", [
    b'{"case_id": "m-1", "compound": -0.5, "brands": ["acme"], "url": null, "n": 3}',
    b'{"a": 1, "a": 2}',  # the last of a repeated key, both ways
    b'{"big": 18446744073709551616}', b'{"low": -9223372036854775809}',  # beyond 64 bits: ints
    b'{"x": 1e400}', b'[NaN, Infinity]', b'["\\ud800"]',  # refused by orjson, json.loads's
    b'\xef\xbb\xbf{"bom": 1}', '{"utf16": 1}'.encode("utf-16"),
    b'{"deep": ' + b"[" * 70 + b"]" * 70 + b"}",
    b'{"text": "caf\\u00e9 \\ud83d\\ude00 \xc3\xa9", "f": [0.1, 5e-324, 1.0000000000000002]}',
])
def test_loads_gives_what_json_loads_gives(payload: bytes) -> None:
    """streams.records.loads (orjson when it reads the same; the moderator tools' decoder) gives
    json.loads's value and types for every message json.loads reads."""
    from streams.records import loads

    expected, got = json.loads(payload), loads(payload)
    assert json.dumps(got) == json.dumps(expected)  # NaN compares unequal to itself
    assert repr(got) == repr(expected)


@pytest.mark.parametrize("payload", [b"", b"{", b'{"a": }', b"\xff", b"[" * 5000 + b"]" * 5000])
def test_loads_refuses_what_json_loads_refuses(payload: bytes) -> None:
    from streams.records import loads

    with pytest.raises((ValueError, RecursionError)) as theirs:
        json.loads(payload)
    with pytest.raises(theirs.type):
        loads(payload)


@pytest.mark.parametrize(("given", "kept"), [
    (..., ()), (None, ()), ([], ()), (["acme"], ("acme",)),
    (["boreal", "acme", "boreal"], ("boreal", "acme")),  # duplicates dropped, the order kept
    (["a" * 64, "x_1-b"], ("a" * 64, "x_1-b")), (["a"] * 20, ("a",)),
    # Syntax only: whether the watch list has it is the enrichment's question.
    (["not-in-any-list"], ("not-in-any-list",)),
])
def test_the_brands_a_source_names_are_taken_as_brand_ids(given: object, kept: tuple) -> None:
    m = parse_raw(raw(brands=given), now=NOW)
    assert m.brands == kept
    payload = json.loads(m.to_json())  # what a re-keyed copy, a collector, writes
    assert payload.get("brands") == (list(kept) or None)
    assert "brands" in payload or not kept  # absent when none: the bytes as before
    jsonschema.validate(payload, published("raw_mention.v1.json"))
    jsonschema.validate(json.loads(raw(brands=given)), published("raw_mention.v1.json"))


@pytest.mark.parametrize(("given", "said"), [
    ("acme", "brands must be a list of brand ids or null, not str"),
    ({"acme": 1}, "brands must be a list of brand ids or null, not dict"),
    (1, "not int"), (True, "not bool"),
    (["Acme"], "brands[0] is 'Acme', not a brand id"),
    (["acme", ""], "brands[1] is '', not a brand id"),
    (["acme", " acme"], "brands[1] is ' acme', not a brand id"),
    (["acme\n"], "not a brand id"), (["_acme"], "not a brand id"), (["a" * 65], "not a brand id"),
    (["acme", None], "brands[1] is None"), ([1], "brands[0] is 1"), ([["acme"]], "brands[0] is ['acme']"),
    (["acme:x"], "not a brand id"), (["b" * 300], "…, not a brand id"),
    ([f"b{n}" for n in range(21)], "brands names 21 brands, at most 20"),
    (["a"] * 21, "brands names 21 brands, at most 20"),  # as sent, as the schema's maxItems
])
def test_brands_that_are_not_a_list_of_brand_ids_are_an_invalid_field(given: object, said: str) -> None:
    with pytest.raises(InvalidMention) as exc:
        parse_raw(raw(brands=given), now=NOW)
    assert (exc.value.reason, exc.value.field) == ("invalid_field", "brands")
    assert said in exc.value.detail
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(raw(brands=given)), published("raw_mention.v1.json"))


def test_the_raw_brands_follow_the_watch_lists_rule_for_an_id() -> None:
    """One definition: what the watch list takes as an id, a raw mention's brands take."""
    from veille.rules import Watchlist, WatchlistError

    for candidate in ("acme", "0-a_b", "Acme", "-acme", "acme\n", "a" * 64, "a" * 65, "é"):
        try:
            Watchlist.from_dict({"brands": [{"id": candidate, "name": "X"}]})
            listed = True
        except WatchlistError:
            listed = False
        try:
            parse_raw(raw(brands=[candidate]), now=NOW)
            taken = True
        except InvalidMention:
            taken = False
        assert listed == taken, candidate


@pytest.mark.parametrize(("sent", "text"), [
    # Twitter's API escapes "&", "<" and ">" in its texts; YouTube's plain-text comments carry
    # "&#39;" and "&quot;".
    ("H&amp;M &lt;3 it&#39;s &quot;great&quot; &gt;&gt; &#x1F600; &eacute;t&eacute;",
     'H&M <3 it\'s "great" >> \U0001F600 été'),
    ("escaped twice: &amp;lt;3", "escaped twice: &lt;3"),  # one level, as sent once
    # No reference: left as written ("&not" is one to html.unescape, with or without ";" after).
    ("R&D, Q&A;, AT&T, &nothing, &notx; &amp no semicolon, &#; &#xZZ; &unknown;",
     "R&D, Q&A;, AT&T, &nothing, &notx; &amp no semicolon, &#; &#xZZ; &unknown;"),
])
def test_html_character_references_in_the_text_are_decoded(sent: str, text: str) -> None:
    assert parse_raw(raw(text=sent), now=NOW).text == text


def test_a_text_of_references_to_nothing_visible_is_empty() -> None:
    assert reason(raw(text="&#32;&nbsp;&#10;")) == "empty_text"
    with pytest.raises(InvalidMention, match="text has 6 characters, the limit is 5"):
        parse_raw(raw(text="&lt;" * 6), now=NOW, limits=Limits(max_text_chars=5))
    assert parse_raw(raw(text="&lt;" * 5), now=NOW, limits=Limits(max_text_chars=5)).text == "<" * 5


def test_a_collector_sends_the_text_as_given_and_the_enrichment_decodes_it_once() -> None:
    """The collectors validate with mention_from_dict and send what they read: decoding there too
    read "&amp;lt;3" (an escaped "&lt;3") as "<3" at the enrichment."""
    from streams.records import mention_from_dict

    sent = mention_from_dict(json.loads(raw(text="I &amp;lt;3 &lt;b&gt;")), now=NOW)
    assert sent.text == "I &amp;lt;3 &lt;b&gt;"
    assert parse_raw(json.dumps(sent.to_dict()).encode(), now=NOW).text == "I &lt;3 <b>"
