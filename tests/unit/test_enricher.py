"""The enrichment agent's logic without Faust: outcomes for good, mis-keyed, bad and failing input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from agents.enrich import Enricher
from tests.conftest import ROOT
from veille.rules import Watchlist
from veille.sentiment import Analyzer
from veille.sentiment.base import Sentiment

NOW = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
W = Watchlist.from_toml(ROOT / "tests/data/watchlist.toml")


class Fixed:
    """A detector that always answers one language (the analyzer's collaborator in tests)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def detect(self, text: str, hint: str | None = None) -> tuple[str, float]:
        return self.lang, 0.99


class Broken:
    language = "en"

    def score(self, text: str) -> Sentiment:
        raise ZeroDivisionError


def payload(i: str = "m1", text: str = "Acme is great") -> bytes:
    return json.dumps({"id": i, "source": "t", "platform": "news", "text": text,
                       "created_at": "2026-01-06T08:00:00Z"}).encode()


def enricher(analyzer: Analyzer) -> Enricher:
    return Enricher(analyzer, W, clock=lambda: NOW)


def test_enriches_with_kafka_timestamp_as_received_time() -> None:
    from veille.sentiment.english import EnglishScorer

    out = enricher(Analyzer([EnglishScorer()], Fixed("en"))).handle(b"m1", payload(), 1767686400.0)
    e = out.enriched
    assert e is not None and out.dead is None and out.rekey is None
    assert e.brands == ("acme",) and e.sentiment is not None and e.sentiment.label == "positive"
    assert e.received_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    assert e.processed_at == NOW


def test_language_without_scorer_is_unscored() -> None:
    from veille.sentiment.english import EnglishScorer

    out = enricher(Analyzer([EnglishScorer()], Fixed("pt"))).handle(b"m1", payload(), None)
    assert out.enriched is not None and out.enriched.sentiment is None
    assert out.enriched.language == "pt"


def test_miskeyed_message_is_rekeyed_not_enriched() -> None:
    from veille.sentiment.english import EnglishScorer

    out = enricher(Analyzer([EnglishScorer()], Fixed("en"))).handle(b"other", payload(), None)
    assert out.rekey is not None and out.rekey.id == "m1" and out.enriched is None


def test_scorer_failure_is_a_dead_letter_not_a_crash() -> None:
    out = enricher(Analyzer([Broken()], Fixed("en"))).handle(b"m1", payload(), None)
    assert out.dead is not None and out.dead.reason == "processing_error"


def test_invalid_payload_is_a_dead_letter() -> None:
    out = enricher(Analyzer([Broken()], Fixed("en"))).handle(b"m1", b"{", None)
    assert out.dead is not None and out.dead.reason == "invalid_json"


def test_brand_mentions_are_triaged_and_those_needing_a_human_queued() -> None:
    from veille.rules import Charter

    watchlist = Watchlist.from_dict({"brands": [
        {"id": "acme", "name": "Acme", "charter": {"response_deadline_minutes": 60}},
        {"id": "boreal", "name": "Boréal",
         "charter": {"remove": ["spam", "hate", "threat", "insult"], "review": ["aggressive"],
                     "response_deadline_minutes": 240}},
    ]})
    e = Enricher(Analyzer(), watchlist, clock=lambda: NOW)
    out = e.handle(b"m1", payload("m1", "Acme et Boréal, vous êtes des guignols"), None)
    assert out.enriched is not None and out.enriched.triage is not None
    assert out.enriched.triage.action == "hide"  # Boréal's charter hides insults: the strictest
    assert out.enriched.to_dict()["triage"]["categories"] == ["insult", "aggressive"]
    item = out.item
    assert item is not None and (item["case_id"], item["brand"], item["brands"]) == (
        "m1", "acme", ["acme", "boreal"])
    assert item["respond_by"] == "2026-01-06T09:00:00.000Z"  # posted 08:00 + the shorter 60 min
    assert e.charter(("acme", "boreal")) is e.charter(("acme", "boreal"))  # merged once
    assert e.charter(("boreal",)).remove == ("spam", "hate", "threat", "insult")
    assert e.charter(("acme",)) == Charter(response_deadline_minutes=60)

    praise = e.handle(b"m2", payload("m2", "I love Acme"), None)
    assert praise.enriched is not None and praise.item is None
    assert praise.enriched.to_dict()["triage"] == {"categories": [], "severity": "none", "action": "none"}
    nobody = e.handle(b"m3", payload("m3", "espèce de connard"), None)
    assert nobody.enriched is not None and nobody.enriched.triage is None and nobody.item is None
    assert nobody.enriched.to_dict()["triage"] is None


class FailsOn:
    """An English scorer that fails on texts holding `word` and scores the others."""

    language = "en"

    def __init__(self, word: str) -> None:
        from veille.sentiment.english import EnglishScorer

        self.word, self.inner = word, EnglishScorer()

    def score(self, text: str) -> Sentiment:
        if self.word in text:
            raise ZeroDivisionError
        return self.inner.score(text)


def test_a_slice_is_handled_step_by_step_and_one_failure_spares_the_rest() -> None:
    """handle_many runs each step over the whole slice; a mention failing at one step is a dead
    letter, the mentions around it (valid, invalid, mis-keyed) get their own outcomes, in order."""
    e = enricher(Analyzer([FailsOn("boom")], Fixed("en")))
    out = e.handle_many([
        (b"m1", payload("m1", "Acme is great"), None),
        (b"m2", payload("m2", "Acme boom"), None),
        (b"m3", b"{", None),
        (b"xx", payload("m4", "Acme is awful"), None),
        (b"m5", payload("m5", "Acme is awful"), None),
    ])
    assert [o.enriched.raw.id if o.enriched else None for o in out] == ["m1", None, None, None, "m5"]
    assert out[1].dead is not None and out[1].dead.reason == "processing_error"
    assert out[2].dead is not None and out[2].dead.reason == "invalid_json"
    assert out[3].rekey is not None and out[3].rekey.id == "m4"
    assert [o.enriched.sentiment.label for o in out if o.enriched and o.enriched.sentiment] == [
        "positive", "negative"]
    # The same as one at a time.
    one = [e.handle(k, v, t) for k, v, t in [(b"m1", payload("m1", "Acme is great"), None),
                                              (b"m5", payload("m5", "Acme is awful"), None)]]
    assert [o.enriched.to_dict() for o in one if o.enriched] == [
        o.enriched.to_dict() for o in (out[0], out[4]) if o.enriched]


class DetectorFailsOn:
    """A detector with detect_many that fails on one text, as a bug would."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def detect(self, text: str, hint: str | None = None) -> tuple[str, float]:
        if text == self.bad:
            raise ZeroDivisionError
        return "en", 0.99

    def detect_many(self, items: list[tuple[str, str | None]]) -> list[tuple[str, float]]:
        return [self.detect(text, hint) for text, hint in items]


def test_a_detection_failing_in_the_batch_fails_its_mention_only() -> None:
    """Languages are detected for the whole slice at once; when that fails, each mention is
    detected alone and only the failing one is a dead letter."""
    from veille.sentiment.english import EnglishScorer

    bad = "Acme broke the detector with this long text"  # read whole: more than 6 words
    outs = enricher(Analyzer([EnglishScorer()], DetectorFailsOn(bad))).handle_many([
        (b"m1", payload("m1"), None), (b"m2", payload("m2", bad), None),
        (b"m3", payload("m3"), None)])
    assert outs[1].dead is not None and outs[1].dead.reason == "processing_error"
    assert all(o.enriched is not None and o.enriched.language == "en" for o in (outs[0], outs[2]))


class Counting(Fixed):
    """Fixed, counting the texts it is asked about."""

    def __init__(self, lang: str) -> None:
        super().__init__(lang)
        self.asked: list[tuple[str, str | None]] = []

    def detect(self, text: str, hint: str | None = None) -> tuple[str, float]:
        self.asked.append((text, hint))
        return super().detect(text, hint)


def with_hint(i: str, text: str, hint: str | None = None) -> bytes:
    m = json.loads(payload(i, text))
    if hint is not None:
        m["language"] = hint
    return json.dumps(m).encode()


def test_a_repeated_text_is_analysed_once_and_enriched_alike() -> None:
    """Retweets, copied complaints, a bot's repeats: a text analysed lately (same language hint)
    is not analysed again (language, sentiment, rules, triage come from the stage's memo), and
    its record is the same but for its id."""
    from veille.sentiment.english import EnglishScorer

    detector = Counting("en")
    e = enricher(Analyzer([EnglishScorer()], detector))
    angry = "Acme you idiots, my order is late AGAIN"
    messages = [(b"m1", with_hint("m1", angry), None), (b"m2", with_hint("m2", angry), None),
                (b"m3", with_hint("m3", "Acme is great"), None),
                (b"m4", with_hint("m4", angry, "fr"), None)]
    first = e.handle_many(messages)
    later = e.handle(b"m5", with_hint("m5", angry), None)
    # (A mention of a few words is read without its brand's name: see the test after.)
    assert detector.asked == [(angry, None), (angry, None), (" is great", None), (angry, "fr")]
    records = [json.loads(o.enriched.to_json()) for o in (*first, later) if o.enriched]
    assert len(records) == 5
    for r in (records[1], records[4]):
        assert {**r, "id": "m1"} == records[0]
    assert records[0]["triage"]["action"] == "review" and first[1].item is not None
    assert first[1].item["case_id"] != first[0].item["case_id"]  # one case per mention still


def test_the_memo_is_bounded_and_keeps_no_long_text_nor_a_failure(monkeypatch) -> None:
    import agents.enrich as enrich
    from veille.sentiment.english import EnglishScorer

    monkeypatch.setattr(enrich, "MEMO_SIZE", 3)
    detector = Counting("en")
    e = enricher(Analyzer([EnglishScorer()], detector))
    for k in range(7):
        assert e.handle(b"m%d" % k, with_hint(f"m{k}", f"Acme number {k}"), None).enriched
        assert len(e._memo) <= 3
    long = "Acme " + "tres " * (enrich.MEMO_MAX_CHARS // 5)
    for k in range(2):
        assert e.handle(b"l%d" % k, with_hint(f"l{k}", long), None).enriched
    assert detector.asked.count((long, None)) == 2
    # A mention whose analysis failed is analysed again when its text comes back.
    broken = Counting("en")
    e = enricher(Analyzer([Broken()], broken))
    outs = [e.handle(b"b%d" % k, with_hint(f"b{k}", "Acme again"), None) for k in range(2)]
    assert all(o.dead is not None and o.dead.reason == "processing_error" for o in outs)
    assert broken.asked == [(" again", None)] * 2  # read without the brand's name


def test_a_changed_watch_list_applies_to_the_next_mentions_even_a_remembered_text() -> None:
    """Enricher.use (the worker's listener of a changed watch list): a text matched before is
    matched with the new list (the memo forgotten), and the new brand's charter is used."""
    from veille.sentiment.english import EnglishScorer

    e = enricher(Analyzer([EnglishScorer()], Fixed("en")))
    angry = "Zorglub you idiots, my order is late AGAIN"
    before = e.handle(b"m1", payload("m1", angry), None)
    assert before.enriched is not None and before.enriched.brands == () and before.item is None
    zorglub = Watchlist.from_dict({"brands": [
        {"id": "zorglub", "name": "Zorglub", "charter": {"response_deadline_minutes": 120}}]})
    e.use(Watchlist([*W.brands, *zorglub.brands]))
    after = e.handle(b"m2", payload("m2", angry), None)
    assert after.enriched is not None and after.enriched.brands == ("zorglub",)
    assert after.item is not None and after.item["brands"] == ["zorglub"]
    # The brand's charter: an answer within 2 hours of the post (08:00).
    assert datetime.fromisoformat(after.item["respond_by"]) == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
    e.use(W)
    assert e.handle(b"m3", payload("m3", angry), None).enriched.brands == ()  # type: ignore[union-attr]


def sourced(i: str, text: str, brands: object, platform: str = "Facebook") -> bytes:
    m = json.loads(payload(i, text))
    m.update(brands=brands, platform=platform)
    return json.dumps(m).encode()


CHARTERED = Watchlist.from_dict({"brands": [
    {"id": "acme", "name": "Acme", "exclude": ["acme looney tunes"],
     "charter": {"remove": ["insult"], "review": ["aggressive", "needs_answer"],
                 "response_deadline_minutes": 30}},
    {"id": "boreal", "name": "Boréal", "charter": {"response_deadline_minutes": 240}},
]})


def test_a_comment_in_a_brands_space_naming_no_brand_is_that_brands_and_triaged_by_its_charter() -> None:
    """A comment on Acme's Facebook page seldom names Acme: the source's `brands` gives it the
    brand, the rule acme:source:facebook, and a triage with Acme's charter (a moderation case)."""
    e = Enricher(Analyzer(), CHARTERED, clock=lambda: NOW)
    out = e.handle(b"m1", sourced("m1", "you idiots, my delivery is late AGAIN, third time", ["acme"]),
                   None)
    m = out.enriched
    assert m is not None and m.brands == ("acme",) and m.rules == ("acme:source:facebook",)
    assert m.triage is not None and "insult" in m.triage.categories
    assert m.triage.action == "hide"  # Acme's charter removes insults; the default would review
    item = out.item
    assert item is not None and (item["brand"], item["brands"]) == ("acme", ["acme"])
    assert item["respond_by"] == "2026-01-06T08:30:00.000Z"  # posted 08:00 + Acme's 30 min
    # The same text from elsewhere is no brand's (the memo holds the text's own match).
    plain = e.handle(b"m2", payload("m2", "you idiots, my delivery is late AGAIN, third time"), None)
    assert plain.enriched is not None and plain.enriched.brands == () and plain.item is None
    again = e.handle(b"m3", sourced("m3", "you idiots, my delivery is late AGAIN, third time",
                                    ["acme"]), None)
    assert again.enriched is not None and again.enriched.rules == ("acme:source:facebook",)
    assert again.item is not None and again.item["action"] == "hide"


def test_a_brand_both_named_by_the_source_and_matched_is_one_brand_with_both_rules() -> None:
    e = Enricher(Analyzer(), CHARTERED, clock=lambda: NOW)
    m = e.handle(b"m1", sourced("m1", "Acme is great", ["acme", "acme"]), None).enriched
    assert m is not None and m.brands == ("acme",)
    assert m.rules == ("acme:alias:Acme", "acme:source:facebook")
    # Its exclusions do not take away a brand whose own space the comment was posted in.
    m = e.handle(b"m2", sourced("m2", "acme looney tunes is a classic", ["acme"]), None).enriched
    assert m is not None and m.brands == ("acme",) and m.rules == ("acme:source:facebook",)


def test_brands_keep_the_watch_lists_order_each_with_its_rules() -> None:
    e = Enricher(Analyzer(), CHARTERED, clock=lambda: NOW)
    m = e.handle(b"m1", sourced("m1", "Acme et Boréal", ["boreal", "acme"], "Blog"), None).enriched
    assert m is not None and m.brands == ("acme", "boreal")
    assert m.rules == ("acme:alias:Acme", "acme:source:blog", "boreal:alias:Boréal",
                       "boreal:source:blog")
    m = e.handle(b"m2", sourced("m2", "Boréal encore en retard", ["acme"]), None).enriched
    assert m is not None and m.brands == ("acme", "boreal")
    assert m.rules == ("acme:source:facebook", "boreal:alias:Boréal")
    assert m.triage is not None and e.charter(m.brands).response_deadline_minutes == 30


def test_a_brand_the_watch_list_does_not_have_is_ignored_and_counted() -> None:
    e = Enricher(Analyzer(), CHARTERED, clock=lambda: NOW)
    outs = e.handle_many([
        (b"m1", sourced("m1", "late again", ["acmee"]), None),
        (b"m2", sourced("m2", "Acme late again", ["zorglub", "acme", "gone"]), None),
        (b"m3", payload("m3", "late again"), None),
    ])
    first, second, third = (o.enriched for o in outs)
    assert first is not None and first.brands == () and first.rules == () and first.triage is None
    assert outs[0].item is None
    assert second is not None and second.brands == ("acme",)
    assert second.rules == ("acme:alias:Acme", "acme:source:facebook")
    assert third is not None and third.brands == ()
    assert [o.unknown for o in outs] == [("acmee",), ("zorglub", "gone"), ()]


ACME_ONLY = Watchlist.from_dict({"brands": [{"id": "acme", "name": "Acme"}]})


def label(out: object) -> str:
    enriched = out.enriched  # type: ignore[attr-defined]
    assert enriched is not None and enriched.sentiment is not None
    return enriched.sentiment.label  # type: ignore[no-any-return]


def test_a_brands_own_name_carries_no_sentiment_in_its_mentions() -> None:
    """Found in review, 2026-12-07: "boreal" is -0.3 in both lexicons, and every mention of the
    demo's Boréal was scored with it: its news were negative. Its own terms are neutral in its
    mentions; what is said about it is scored as before."""
    e = Enricher(Analyzer(), CHARTERED, clock=lambda: NOW)
    outs = e.handle_many([(f"m{k}".encode(), payload(f"m{k}", text), None) for k, text in enumerate([
        "Boreal will open thirteen new shops in Toronto next year",
        "Boreal Café ouvre 33 nouveaux cafés en 2026",
        "Boréal c'est nul",
        "Boreal is great",
        "BORÉAL IS AWFUL!!!",
    ])])
    assert [label(o) for o in outs] == ["neutral", "neutral", "negative", "positive", "negative"]
    news = outs[0].enriched
    assert news is not None and news.sentiment is not None and news.sentiment.compound == 0.0
    # The record keeps the text; its language is the text's (en, as Boreal's own word was).
    assert news.raw.text == "Boreal will open thirteen new shops in Toronto next year"
    assert news.language == "en" and news.brands == ("boreal",)
    assert outs[1].enriched is not None and outs[1].enriched.language == "fr"
    # The same words where Boréal is not watched keep the word's valence ("boreal" is a word).
    other = Enricher(Analyzer(), ACME_ONLY, clock=lambda: NOW)
    assert label(other.handle(b"x", payload("x", news.raw.text), None)) == "negative"


def test_a_mention_of_brands_without_a_valued_term_is_scored_as_its_text() -> None:
    analyzer = Analyzer()
    e = Enricher(analyzer, CHARTERED, clock=lambda: NOW)
    texts = ["Acme is great", "ACME VOUS ÊTES NULS!!!", "Acme, pas terrible", "late again, acme 😡"]
    outs = e.handle_many([(f"m{k}".encode(), payload(f"m{k}", t), None) for k, t in enumerate(texts)])
    for out, text in zip(outs, texts, strict=True):
        m = out.enriched
        assert m is not None and m.brands == ("acme",)
        assert m.sentiment == analyzer.analyse(text).sentiment


def test_the_memo_follows_the_watch_list_of_the_brands_own_terms() -> None:
    """A text remembered under one watch list is scored again under the next: Boréal's name is
    a word where Boréal is not watched, neutral where it is."""
    news = "Boreal will open thirteen new shops in Toronto next year"
    e = Enricher(Analyzer(), ACME_ONLY, clock=lambda: NOW)
    assert label(e.handle(b"m1", payload("m1", news), None)) == "negative"
    e.use(CHARTERED)
    assert label(e.handle(b"m2", payload("m2", news), None)) == "neutral"
    assert label(e.handle(b"m3", payload("m3", news), None)) == "neutral"  # from the memo
    e.use(ACME_ONLY)
    assert label(e.handle(b"m4", payload("m4", news), None)) == "negative"


def test_a_brand_named_by_the_source_only_leaves_the_words_its_rules_did_not_match() -> None:
    """The brands a source names (RawMention.brands) add no neutral term: had a term of theirs
    matched, the text's match would hold them; one in the text that did not match is no mention
    of them (an exclusion, an address), and stays a word. So the memo, which holds what the text
    alone gives, stays right."""
    watchlist = Watchlist.from_dict({"brands": [
        {"id": "boreal", "name": "Boréal", "exclude": ["aurore boréale"]}]})
    e = Enricher(Analyzer(), watchlist, clock=lambda: NOW)
    text = "Une aurore boréale ce soir, magnifique"
    alone = e.handle(b"m1", payload("m1", text), None).enriched
    named = e.handle(b"m2", sourced("m2", text, ["boreal"]), None).enriched
    assert alone is not None and named is not None and named.brands == ("boreal",)
    assert named.sentiment == alone.sentiment == Analyzer().analyse(text).sentiment
    news = e.handle(b"m3", sourced("m3", "Boréal ouvre 33 nouveaux cafés", ["boreal"]), None)
    assert label(news) == "neutral"


def test_a_text_escaped_by_its_platform_is_matched_scored_and_triaged_as_written() -> None:
    """Twitter's API sends "H&amp;M" and "&lt;3": the brand H&M was not found in it and the heart
    was no positive word; the enriched record carries the text as its author wrote it."""
    watchlist = Watchlist.from_dict({"brands": [{"id": "hm", "name": "H&M"}]})
    e = Enricher(Analyzer(), watchlist, clock=lambda: NOW)
    out = e.handle(b"m1", payload("m1", "New jacket from H&amp;M &lt;3"), None)
    assert out.enriched is not None
    assert out.enriched.raw.text == "New jacket from H&M <3" and out.enriched.brands == ("hm",)
    assert out.enriched.sentiment is not None and out.enriched.sentiment.label == "positive"


def test_a_short_mentions_language_is_read_without_its_brands_names() -> None:
    """Found in review, 2026-12-07: in a few words a brand's name tips the language models ("acme
    de merde" was undetermined, so unscored); the stage reads a mention of at most
    UNNAMED_MAX_WORDS words without the names of the brands it matched. A longer one is read
    whole, as the record's text is."""
    from agents.enrich import UNNAMED_MAX_WORDS

    analyzer = Analyzer()
    e = enricher(analyzer)
    short = "acme de merde"
    assert analyzer.detect(short)[0] == "und"  # the whole text
    m = e.handle(b"m1", payload("m1", short), None).enriched
    assert m is not None and m.language == "fr" and m.raw.text == short
    assert m.sentiment is not None and m.sentiment.label == "negative"
    assert (m.language, m.language_confidence) == analyzer.detect(" de merde")
    # Only the name of a brand matched: the same words with no brand are the whole text's.
    other = enricher(analyzer).handle(b"m2", payload("m2", "zorglub de merde"), None).enriched
    assert other is not None and other.brands == ()
    assert (other.language, other.language_confidence) == analyzer.detect("zorglub de merde")
    long = "Acme " + " ".join(["le service client est nul"] * 2)
    assert len(long.split()) > UNNAMED_MAX_WORDS
    m = e.handle(b"m3", payload("m3", long), None).enriched
    assert m is not None and (m.language, m.language_confidence) == analyzer.detect(long)


def test_taking_the_names_out_failing_fails_its_mention_only(monkeypatch) -> None:
    from veille.sentiment.brand_terms import Neutralizer

    real = Neutralizer.unnamed

    def unnamed(self: Neutralizer, text: str, brands: tuple[str, ...]) -> str:
        if text == "Acme broke":
            raise ZeroDivisionError
        return real(self, text, brands)

    monkeypatch.setattr(Neutralizer, "unnamed", unnamed)
    outs = enricher(Analyzer()).handle_many([(b"m1", payload("m1", "Acme sucks"), None),
                                             (b"m2", payload("m2", "Acme broke"), None),
                                             (b"m3", payload("m3", "Acme, quelle honte"), None)])
    assert outs[1].dead is not None and outs[1].dead.reason == "processing_error"
    assert [o.enriched.language for o in (outs[0], outs[2]) if o.enriched] == ["en", "fr"]
