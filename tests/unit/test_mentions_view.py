"""veille.mentions_view: what `veille mentions` shows of enriched records (pure), and its
refusals of bad arguments before any broker is asked."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from tests.cli_helpers import assert_clear_error, run
from veille.deadletters import DeadLetter
from veille.mentions_view import Filter, Newest, RawCopy, Topics, Trace, line, queued, trace_line, whole


def record(i: str, posted: str, **extra: object) -> dict[str, object]:
    r: dict[str, object] = {
        "id": i, "source": "rss", "platform": "news", "author": "Le Monde", "text": "Acme en panne",
        "url": None, "created_at": posted, "audience": {"followers": 12000}, "language": "fr",
        "language_confidence": 0.97, "sentiment": {"compound": -0.4, "pos": 0, "neu": 0.5, "neg": 0.5,
                                                    "label": "negative"},
        "brands": ["acme"], "rules": ["acme:alias:Acme"],
        "triage": {"categories": ["detractor"], "severity": "low", "action": "review"}}
    r.update(extra)
    return r


def test_newest_keeps_the_last_posted_whatever_the_reading_order() -> None:
    newest = Newest(2)
    for i, posted in [("b", "2026-12-06T10:00:00Z"), ("d", "2026-12-06T12:00:00Z"),
                      ("a", "2026-12-06T09:00:00Z"), ("c", "2026-12-06T11:00:00Z"),
                      ("x", "not a time")]:
        newest.add(record(i, posted))
    assert [r["id"] for r in newest.oldest_first()] == ["c", "d"]
    assert newest.total == 5


def test_filters() -> None:
    es = record("es", "2026-12-06T10:00:00Z", language="es", sentiment=None, brands=["acme", "boreal"])
    fr = record("fr", "2026-12-06T08:00:00+01:00")
    assert [Filter(unscored=True)(r) for r in (es, fr)] == [True, False]
    assert [Filter(negative=True)(r) for r in (es, fr)] == [False, True]
    assert [Filter(brand="boreal")(r) for r in (es, fr)] == [True, False]
    assert [Filter(language="fr")(r) for r in (es, fr)] == [False, True]
    since = Filter(since=1_796_551_200.0)  # 2026-12-06T09:00Z: fr was posted at 07:00Z
    assert [since(r) for r in (es, fr)] == [True, False]
    assert not since(record("?", "yesterday"))  # a time it cannot read is not "since"
    by = Filter(author="@julie_35")
    assert [by(record("a", "", author=a)) for a in ("Julie_35", "@julie_35 ", "julie_3", None, 35)] == \
        [True, True, False, False, False]
    words = Filter(contains="  reseau en   PANNE ")
    assert [words(record("a", "", text=t)) for t in ("Le Réseau\u00a0en panne à Lyon", "réseau\nen\tpanne",
                                                      "en panne, le réseau", "", None, 3)] == \
        [True, True, False, False, False, False]
    assert words(record("u", "", text="?", url="https://ex.org/reseau-en-panne")) is False  # words, in order
    assert Filter(contains="ex.org/Acme")(record("u", "", text="?", url="https://ex.org/acme/1"))
    assert Filter(contains="Ｒéseau")(record("w", "", text="RESEAU"))  # full-width letters fold too


def test_a_line_and_a_whole_mention() -> None:
    r = record("m1", "2026-12-06T10:00:00Z", text="Acme\n" + "x" * 300)
    shown = line(r, ZoneInfo("Europe/Paris"))
    assert shown.startswith("2026-12-06 11:00 CET  m1  news  Le Monde  fr  negative -0.4  acme  review  "
                            "Acme x")
    assert shown.endswith("…") and "\n" not in shown and len(shown.split("  ")[-1]) == 100
    rows = whole(r).splitlines()
    assert rows[1] == "posted    2026-12-06 10:00:00 UTC on news by Le Monde (12,000 followers)"
    assert rows[2] == "link      -"
    for n, lang, words in ((1, "en", "(1 follower)"), (0, "en", "(0 followers)"),
                           (0, "fr", "(0 abonné)"), (1, "fr", "(1 abonné)"), (2, "fr", "(2 abonnés)")):
        assert words in whole(record("m1", "2026-12-06T10:00:00Z", audience={"followers": n}),
                              lang=lang).splitlines()[1], (n, lang)
    assert "its case: veille moderate show m1" in rows[5] and queued(r)
    assert rows[-1] == "text      Acme " + "x" * 300  # whole, on one line
    # A record of another producer, fields missing or of other types: shown, not a crash.
    odd = whole({"id": "z", "audience": "many", "triage": None, "sentiment": "bad", "brands": None})
    assert "none (no brand matched)" in odd and "not scored" in odd and "by ?" in odd
    assert line({"text": 3})


def test_bad_arguments_are_refused_before_the_broker_is_asked(capsys) -> None:
    for args, message in [(["mentions", " "], "a mention id is empty"),
                          (["mentions", "--limit", "0"], "--limit must be at least 1"),
                          (["mentions", "--brand", ""], "--brand must not be empty"),
                          (["mentions", "--author", " "], "--author must not be empty"),
                          (["mentions", "--contains", " \u0301 "], "--contains must hold a word"),
                          (["mentions", "m1", "--contains", "x"], "give mention ids or filters (--contains)"),
                          (["mentions", "--language", " "], "--language must name a language"),
                          (["mentions", "--tz", "Mars/Olympus"], "--tz: unknown time zone"),
                          (["mentions", "m1", "--brand", "acme", "--negative"],
                           "give mention ids or filters (--brand, --negative), not both"),
                          (["mentions", "--since", "soon", "--broker-url", "127.0.0.1:1"], "--since")]:
        status, _out, err = run(capsys, *args)
        assert_clear_error(status, err, message)


def test_a_mention_in_french_keeps_the_records_values() -> None:
    """`veille mentions --lang fr` (default VEILLE_REPORT_LANGUAGE): row names, sentences and
    notes in French; the values (text, sentiment label, action, severity, categories) as the
    record has them, as the filters take them."""
    from veille.mentions_view import matched_note, missing_note

    r = record("m1", "2026-12-06T10:00:00Z")
    rows = whole(r, ZoneInfo("Europe/Paris"), "fr").splitlines()
    assert rows[1] == "publiée   2026-12-06 11:00:00 CET sur news par Le Monde (12\u202f000 abonnés)"
    assert rows[3] == "langue    fr (0.97), sentiment negative -0.4"
    assert rows[4] == "marques   acme (règles\u00a0: acme:alias:Acme)"
    assert rows[5] == ("tri       review, gravité low, catégories detractor\u00a0; son dossier\u00a0: "
                       "veille moderate show m1")
    assert rows[-1] == "texte     Acme en panne"
    odd = whole({"id": "z", "triage": None, "sentiment": "bad"}, lang="fr")
    assert "aucun (aucune marque reconnue)" in odd and "non évalué" in odd
    assert line(r, lang="fr") == line(r)  # values only, no label to translate
    assert "non évalué" in line(record("m2", "", sentiment=None), lang="fr")
    assert missing_note(["a"], "t.mentions.enriched", "fr").startswith(
        "veille mentions\u00a0: absentes de t.mentions.enriched\u00a0: a (")
    assert matched_note(1500, 20, "t", "fr") == ("veille mentions\u00a0: 1\u202f500 retenues dans t, "
                                                 "les 20 plus récentes affichées")
    assert matched_note(1500, 20, "t") == "veille mentions: 1,500 on t matched, the newest 20 shown"
    assert whole(r, lang="de") == whole(r)  # English otherwise


TOPICS = Topics(raw="mentions.raw", enriched="mentions.enriched", dlq="mentions.dlq", app_id="veille",
                mentions_days=7)
AT = 1_796_000_000.0  # 2026-11-30 00:53:20 UTC


def test_a_missing_id_is_traced_to_where_it_is() -> None:
    """Each way a mention id can miss mentions.enriched, said with what to do next."""
    letter = DeadLetter.from_record(b"m1", b'{"id": "m1"}', int(AT * 1000), [
        ("veille-dlq-reason", b"invalid_timestamp"), ("veille-dlq-field", b"created_at"),
        ("veille-dlq-detail", b"3 days\nin the future"), ("other", b"x")])
    refused = trace_line(Trace("m1", letter, 2, RawCopy(0, 5, AT)), TOPICS)
    assert refused == ("  m1: refused at validation, on mentions.dlq (2 times): invalid_timestamp "
                       "(created_at): 3 days in the future, at 2026-11-30 00:53:20 UTC (`veille "
                       "dead-letters --reason invalid_timestamp` lists them)")
    raw = RawCopy(3, 1204, AT, "rss", copies=2)
    waiting = trace_line(Trace("m2", raw=raw, committed=1100), TOPICS, ZoneInfo("Europe/Paris"))
    assert waiting == ("  m2: on mentions.raw (partition 3, offset 1204, written 2026-11-30 01:53:20 CET "
                       "by rss, 2 copies), not enriched yet: the next the enrichment stage reads there "
                       "is offset 1100, 104 messages before this one")
    # Its own offset is the next to read: none before it.
    next_one = trace_line(Trace("m2", raw=raw, committed=1204), TOPICS)
    assert next_one.endswith(", not enriched yet: it is the next the enrichment stage reads there")
    never = trace_line(Trace("m3", raw=RawCopy(0, 0, AT)), TOPICS)
    assert never.endswith("not enriched yet: no enrichment stage of VEILLE_APP_ID=veille has read that "
                          "partition (is a worker running?)")
    assert " by " not in never and "copies" not in never
    gone = trace_line(Trace("m4", raw=RawCopy(0, 7, AT), committed=8), TOPICS)
    assert "read by the enrichment stage (committed up to offset 8) but neither on mentions.enriched " \
           "nor refused: its enriched record has left mentions.enriched with its retention (7 days)" in gone
    rekeyed = trace_line(Trace("m5", raw=RawCopy(0, 7, AT, value_id="m5b"), committed=8), TOPICS)
    assert rekeyed.endswith(", whose value's id is m5b: the enrichment stage enriches it under that id "
                            "(`veille mentions m5b`)")
    assert trace_line(Trace("m6"), TOPICS) == (
        "  m6: no message keyed with this id on mentions.raw or mentions.dlq: not sent, sent under another "
        "key or none and not read yet (the enrichment stage sends it again keyed by its id), or past their "
        "retention (7 days)")


def test_a_trace_in_french_and_escaped() -> None:
    raw = RawCopy(3, 1204, AT, "rss\x1b[31m", copies=1200)
    fr = trace_line(Trace("m\x1b2", raw=raw, committed=100), Topics(
        raw="p.mentions.raw", enriched="p.mentions.enriched", dlq="p.mentions.dlq", app_id="p",
        mentions_days=1.5), lang="fr")
    assert fr == ("  m\\u001b2\u00a0: dans p.mentions.raw (partition 3, offset 1204, écrite le 2026-11-30 "
                  "00:53:20 UTC par rss\\u001b[31m, 1\u202f200 copies), pas encore enrichie\u00a0: la "
                  "prochaine que l'étape d'enrichissement y lit est à l'offset 100, 1\u202f104 messages "
                  "avant celle-ci")
    assert "(1,5 jours)" in trace_line(Trace("m"), Topics("r", "e", "d", "p", 1.5), lang="fr")


def test_the_missing_note_escapes_the_ids_and_one_message_is_singular() -> None:
    """The ids not found come from the command line as typed (or pasted from a record another
    producer wrote): the note naming them escapes their control characters as the trace lines
    below it do ("\\x1b[31m" turned the reader's terminal red); one message before it is one."""
    from veille.mentions_view import missing_note

    note = missing_note(["m\x1b[31m", "ok"], "mentions.enriched")
    assert "\x1b" not in note and "m\\u001b[31m, ok" in note
    assert "\x1b" not in missing_note(["m\x1b[2J"], "mentions.enriched", "fr")
    one = trace_line(Trace("m2", raw=RawCopy(3, 1205, AT), committed=1204), TOPICS)
    assert one.endswith("is offset 1204, 1 message before this one")
    un = trace_line(Trace("m2", raw=RawCopy(3, 1205, AT), committed=1204), TOPICS, lang="fr")
    assert un.endswith("est à l'offset 1204, 1 message avant celle-ci")
    zero = trace_line(Trace("m2", raw=RawCopy(3, 1204, AT), committed=1204), TOPICS, lang="fr")
    assert zero.endswith("pas encore enrichie\u00a0: c'est la prochaine que l'étape d'enrichissement y lit")
    refused = trace_line(Trace("m1", DeadLetter.from_record(b"m1", b"{", 0, [
        ("veille-dlq-reason", b"invalid_json"), ("veille-dlq-field", b"text"),
        ("veille-dlq-detail", b"x")]), 1), TOPICS, lang="fr")
    assert "invalid_json (text)\u00a0: x, le " in refused  # the French colon


#: A case as `veille moderate show` and the API's GET /cases/{id} give it (case_id, status, item,
#: closed), for the mention "m1" of record() (queued 2026-12-07 10:02 UTC).
QUEUED = "2026-12-07T10:02:00.000Z"


def case(status: str = "pending", *, item: dict[str, object] | None = None,
         closed: dict[str, object] | None = None) -> dict[str, object]:
    shown = {"case_id": "m1", "queued_at": QUEUED, "escalation": None, "assigned": None,
             "decision_pending": None, **(item or {})}
    return {"case_id": "m1", "status": status, "item": shown if status == "pending" or item else None,
            "closed": closed}


def triage_row(found: dict[str, object] | None, lang: str = "en", tz: str = "UTC") -> str:
    """The triage row of m1 shown whole with the cases read (`found` None: m1 has none there)."""
    cases = {} if found is None else {"m1": found}
    return whole(record("m1", "2026-12-06T10:00:00Z"), ZoneInfo(tz), lang, cases=cases).splitlines()[5]


def test_a_shown_mention_s_case_says_its_state() -> None:
    """`veille mentions ID`: "was this complaint answered, moderated?" on the mention's triage
    row, in `veille moderate show`'s words (its sentence for a decision, its time to decision),
    the times in --tz; `veille moderate show ID` still named for the whole case."""
    head = "triage    review, severity low, categories detractor; its case (veille moderate show m1): "
    assert triage_row(case()) == head + "pending since 2026-12-07 10:02 UTC"
    assert triage_row(case(), tz="Europe/Paris") == head + "pending since 2026-12-07 11:02 CET"
    assigned = {"assignee": "alice", "moderator": "alice", "decision": "assign",
                "decided_at": "2026-12-07T10:03:00.000Z"}
    assert triage_row(case(item={"assigned": assigned})) == (
        head + "pending since 2026-12-07 10:02 UTC (assigned to alice)")
    escalation = {"count": 2, "severity": "high", "assignee": "lead", "moderator": "dan",
                  "decided_at": "2026-12-07T10:05:00.000Z", "reason": "legal"}
    assert triage_row(case(item={"escalation": escalation})) == (
        head + "pending since 2026-12-07 10:02 UTC, escalated 2x, last by dan at 2026-12-07 10:05 UTC "
        "to lead")
    no_one = dict(escalation, count=1, assignee=None)
    assert triage_row(case(item={"escalation": no_one})).endswith(
        "escalated 1x, last by dan at 2026-12-07 10:05 UTC to the escalation queue")
    pending = {"decision": "reject", "moderator": "bob", "decided_at": "2026-12-07T10:06:10.000Z"}
    assert triage_row(case(item={"decision_pending": pending})) == (
        head + "pending since 2026-12-07 10:02 UTC, reject by bob at 2026-12-07 10:06 UTC (the agent "
        "applies it shortly)")
    closed = {"case_id": "m1", "decision": "reject", "moderator": "bob",
              "decided_at": "2026-12-07T10:06:10.000Z", "time_to_decision_seconds": 250.0}
    assert triage_row(case("closed", closed=closed)) == (
        head + "closed, reject by bob at 2026-12-07 10:06 UTC, after 4m10s in the queue")
    answered = dict(closed, decision="replied", moderator="@AcmeOfficial", answered_on="youtube")
    assert triage_row(case("closed", closed=answered)) == (
        head + "closed, replied (seen on youtube) by @AcmeOfficial at 2026-12-07 10:06 UTC, after "
        "4m10s in the queue")
    assert triage_row(None) == (
        head + "not found on the moderation topics (past their retention, or the worker has not "
        "queued it yet)")
    # Not read (--json reads no case; a caller without them): the pointer alone, as before.
    assert whole(record("m1", "")).splitlines()[5].endswith("; its case: veille moderate show m1")
    # A mention triage did not queue has no case to look for, whatever was read.
    left = record("m2", "", triage={"categories": [], "severity": "low", "action": "none"})
    assert whole(left, cases={}).splitlines()[5].endswith("; not queued (no case)")


def test_a_case_s_state_in_french_and_escaped() -> None:
    """--lang fr: show's French words (its decisions as French past participles); a moderator's
    name or a time with control characters escaped as every row is (printable); a time the
    record does not parse shown as it is."""
    head = ("tri       review, gravité low, catégories detractor\u00a0; son dossier (veille moderate show "
            "m1)\u00a0: ")
    assigned = {"assignee": "alice", "moderator": "alice", "decision": "assign",
                "decided_at": "2026-12-07T10:03:00.000Z"}
    assert triage_row(case(item={"assigned": assigned}), "fr", "Europe/Paris") == (
        head + "en attente depuis le 2026-12-07 11:02 CET (assigné à alice)")
    escalation = {"count": 1, "severity": "high", "assignee": None, "moderator": "dan",
                  "decided_at": "2026-12-07T10:05:00.000Z", "reason": None}
    assert triage_row(case(item={"escalation": escalation}), "fr").endswith(
        ", escaladé 1x, en dernier par dan le 2026-12-07 10:05 UTC, vers la file d'escalade")
    closed = {"case_id": "m1", "decision": "reject", "moderator": "bob",
              "decided_at": "2026-12-07T10:06:10.000Z", "time_to_decision_seconds": 250.0}
    assert triage_row(case("closed", closed=closed), "fr") == (
        head + "clos, rejeté par bob le 2026-12-07 10:06 UTC, après 4m10s dans la file")
    answered = dict(closed, decision="replied", answered_on="youtube")
    assert "clos, répondu (vu sur youtube) par bob le " in triage_row(case("closed", closed=answered), "fr")
    assert triage_row(None, "fr") == (
        head + "introuvable dans les topics de modération (passé leur rétention, ou le worker ne "
        "l'a pas encore mis en file)")
    odd = dict(closed, moderator="bob\x1b[2J\u202e", decided_at="hier\r")
    row = triage_row(case("closed", closed=odd))
    assert "reject by bob\\u001b[2J\\u202e at hier\\u000d, after" in row and "\x1b" not in row, row
