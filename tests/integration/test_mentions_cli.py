"""`veille mentions`: enriched mentions read from the real broker after a real worker enriched
them: an alert's mention ids shown whole (a negative mention triage did not queue has no case),
and the listing the UnscoredMentionsSurge runbook asks for."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest

from streams.topics import MENTIONS_DLQ, MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics, key_partition
from tests.cli_helpers import as_operator
from tests.integration.test_bad_input import produce
from tests.moderation_helpers import mention, wait_for
from veille.moderate.store import TopicReader
from veille.settings import Settings

pytestmark = pytest.mark.integration

TEXTS = {
    # Negative, about Acme, not addressed to it: triage leaves it (no case).
    "m-neg": "My neighbour says the Acme router kept dropping the connection all week, awful",
    # An insult addressed to the brand: a moderation case.
    "m-insult": "@acme_fr espèce de connard",
    # Neither English nor French: counted, not scored.
    "m-es": "El nuevo router de Acme funciona muy bien, estoy contento con la compra",
    "m-pos": "Acme support fixed my line in ten minutes, brilliant service",
    "m-other": "Nothing to see here, just a sunny day in the park",
}


def veille(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return as_operator(settings, "mentions", *args)


def test_an_alert_s_mentions_are_read_by_id_and_the_unscored_ones_listed(settings, start_worker) -> None:
    ensure_topics(settings)
    start_worker(settings)
    # Posted an hour apart, oldest first in the order above.
    produce(settings, [mention(i, text, age=timedelta(hours=len(TEXTS) - n))
                       for n, (i, text) in enumerate(TEXTS.items())])

    def listed() -> list[dict[str, object]]:
        done = veille(settings, "--json", "--limit", "100")
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    records = wait_for(lambda: (found := listed()) and len(found) == len(TEXTS) and found, 60,
                       "every mention enriched")
    assert [r["id"] for r in records] == list(TEXTS)  # oldest posted first
    by_id = {r["id"]: r for r in records}
    assert by_id["m-neg"]["sentiment"]["label"] == "negative" and by_id["m-neg"]["brands"] == ["acme"]
    assert by_id["m-neg"]["triage"]["action"] == "none"

    # An alert's ids: each whole, the missing one said, exit 1.
    done = veille(settings, "m-neg", "m-insult", "m-nope")
    assert done.returncode == 1, done.stderr
    blocks = done.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    neg, insult = ({line.split(None, 1)[0]: line.split(None, 1)[1] for line in b.splitlines()}
                   for b in blocks)
    assert neg["mention"] == "m-neg" and neg["text"] == TEXTS["m-neg"]
    assert neg["link"] == "https://example.org/m-neg" and "by @m-neg" in neg["posted"]
    assert neg["language"].startswith("en (") and "sentiment negative" in neg["language"]
    assert "not queued (no case)" in neg["triage"]
    assert "its case (veille moderate show m-insult): " in insult["triage"]
    assert "m-nope" in done.stderr and "m-neg" not in done.stderr
    assert "Traceback" not in done.stderr

    # "Was this complaint moderated?" on its row: its case's state, read from the moderation
    # topics (pending, then closed once a moderator decided and the agent applied it).
    def triage(*args: str) -> str:
        done = veille(settings, "m-insult", *args)
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if line.startswith(("triage ", "tri ")))

    pending = wait_for(lambda: "pending since " in (row := triage()) and row, 60, "the case queued")
    assert pending.startswith("triage    hide, ") and pending.endswith(" UTC"), pending
    assert "; its case (veille moderate show m-insult): pending since 20" in pending, pending
    decided = as_operator(settings, "moderate", "decide", "m-insult", "reject", "--moderator", "bob")
    assert decided.returncode == 0, decided.stderr
    closed = wait_for(lambda: "closed, " in (row := triage("--tz", "Europe/Paris")) and row, 60,
                      "the case closed")
    assert ": closed, reject by bob at 20" in closed and " in the queue" in closed, closed
    assert " CET, after " in closed or " CEST, after " in closed, closed  # --tz
    assert triage("--lang", "fr").split("\u00a0: ", 1)[1].startswith("clos, rejeté par bob le 20")
    # --json: the enriched record, no case in it.
    done = veille(settings, "m-insult", "--json")
    assert json.loads(done.stdout) == by_id["m-insult"], done.stdout

    # The runbook of UnscoredMentionsSurge: a brand's mentions in a language veille does not score.
    done = veille(settings, "--brand", "Acme", "--unscored")
    assert done.returncode == 0, done.stderr
    assert [line.split()[3] for line in done.stdout.splitlines()] == ["m-es"]
    assert "not scored" in done.stdout and "1 on " in done.stderr
    # The newest negative one only; then none (a brand nobody names): said, not silent.
    done = veille(settings, "--negative", "--limit", "1", "--json")
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["m-insult"]
    assert "2 on " in done.stderr and "the newest 1 shown" in done.stderr
    # An access request: one author's mentions, whatever the case of the handle asked for.
    done = veille(settings, "--author", "M-ES", "--json")
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["m-es"]
    done = veille(settings, "--language", "es", "--negative")
    assert done.returncode == 0 and done.stdout == "" and "0 on " in done.stderr
    # A word someone reports ("did anyone write about the router?"): case and accents ignored.
    done = veille(settings, "--contains", "ROUTER de acme", "--json")
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["m-es"], done.stderr


def test_ids_not_enriched_are_traced_to_where_they_are(settings, start_worker) -> None:
    """The support question "the customer complained; why is it not in veille?": each id that is
    not on mentions.enriched is looked for on mentions.dlq and mentions.raw, and the line says
    why: refused (its reason), not read yet (how far the enrichment stage has read), re-keyed
    (the id inside), never sent. Real worker, real broker."""
    from tests.kafka_helpers import committed_offsets, wait_committed_to_end

    ensure_topics(settings)
    worker = start_worker(settings)
    ahead = json.loads(mention("t-bad", "Acme est nul")[1])
    ahead["created_at"] = "2099-01-01T00:00:00+00:00"
    produce(settings, [mention("t-ok", "Acme support was great today"),
                       (b"t-bad", json.dumps(ahead).encode()),
                       (b"t-key", mention("t-inside", "Acme is fine")[1])])
    wait_committed_to_end(settings, MENTIONS_RAW, settings.enrich_group, timeout=120)
    assert worker.stop() == 0
    produce(settings, [mention("t-late", "Acme, where is my parcel?")])  # no worker reads it

    done = veille(settings, "t-ok", "t-bad", "t-late", "t-key", "t-never")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("mention   t-ok\n"), done.stdout
    lines = {line.split(":", 1)[0].strip(): line
             for line in done.stderr.splitlines() if line.startswith("  ")}
    assert list(lines) == ["t-bad", "t-late", "t-key", "t-never"], done.stderr
    raw, dlq = settings.topic(MENTIONS_RAW), settings.topic(MENTIONS_DLQ)
    assert lines["t-bad"].startswith(f"  t-bad: refused at validation, on {dlq}: created_at_in_future "
                                     "(created_at): "), lines["t-bad"]
    assert "`veille dead-letters --reason created_at_in_future`" in lines["t-bad"]
    late = key_partition(b"t-late", settings.topic_partitions)
    read_to = committed_offsets(settings, MENTIONS_RAW, settings.enrich_group)[late]
    assert lines["t-late"].startswith(f"  t-late: on {raw} (partition {late}, offset {read_to}, written "), \
        lines["t-late"]
    assert lines["t-late"].endswith(" by test), not enriched yet: it is the next the enrichment stage reads "
                                    "there")
    assert lines["t-key"].endswith(", whose value's id is t-inside: the enrichment stage enriches it under "
                                   "that id (`veille mentions t-inside`)")
    assert lines["t-never"].startswith(f"  t-never: no message keyed with this id on {raw} or {dlq}: ")
    assert "Traceback" not in done.stderr

    # Another application's enrichment stage (VEILLE_APP_ID) has read nothing of the topics.
    other = as_operator(settings, "mentions", "t-late", "--lang", "fr", VEILLE_APP_ID="elsewhere")
    assert other.returncode == 1 and other.stdout == "", other.stderr
    assert other.stderr.splitlines()[-1].endswith(
        "pas encore enrichie\u00a0: aucune étape d'enrichissement de VEILLE_APP_ID=elsewhere n'a lu "
        "cette partition (un worker tourne-t-il\u202f?)"), other.stderr


def test_ids_are_read_from_their_partitions_only(settings) -> None:
    ensure_topics(settings)
    keys = [b"m-neg", b"m-es"]
    reader = TopicReader(settings, {MENTIONS_ENRICHED: lambda record: None}, keys=keys)
    try:
        reader.refresh()
        read = sorted(tp.partition for tp in reader.consumer.assignment())
    finally:
        reader.close()
    assert read == sorted({key_partition(k, settings.topic_partitions) for k in keys})
    assert len(read) < settings.topic_partitions


#: The English words of `veille mentions` (row names, sentences, notes) that a French run must
#: not print; "mention" and "source" are the same in both, "text" is in "texte", "enriched" in
#: the topic's name.
ENGLISH = ("posted", "link ", "language ", "brands ", "triage ", "followers", "its case", "not queued",
           "severity", "categories", "rules:", ", received ", ", enriched ", "not scored", "not on ",
           "matched", "newest", "shown")


def test_mentions_in_french_against_the_broker(settings) -> None:
    """`veille mentions --lang fr` run against the broker (its French had unit tests only):
    mentions shown whole, the listing's count and a missing id's note in French, no English
    word of the command's left; VEILLE_REPORT_LANGUAGE=fr the same without --lang. Records of
    the enrichment stage's own code, written to the topic (no worker: seconds)."""
    from tests.integration.test_consumer_example import enriched
    from tests.kafka_helpers import produce as produce_to

    ensure_topics(settings)
    records = [enriched("m-fr", "Acme Mobile est nul, ma ligne est coupée depuis des jours, honteux"),
               enriched("m-es", "El nuevo router de Acme Mobile funciona muy bien")]
    records[0]["author"] = "Le Monde"
    produce_to(settings, MENTIONS_ENRICHED, [(r["id"].encode(), json.dumps(r).encode()) for r in records])

    done = veille(settings, "--lang", "fr", "m-fr", "m-es", "m-nope")
    assert done.returncode == 1, done.stderr
    blocks = [{line.split(None, 1)[0]: line.split(None, 1)[1] for line in b.splitlines()}
              for b in done.stdout.strip().split("\n\n")]
    assert [list(b) for b in blocks] == [
        ["mention", "publiée", "lien", "langue", "marques", "tri", "source", "texte"]] * 2, done.stdout
    fr, es = blocks
    assert " par Le Monde (1\u202f200 abonnés)" in fr["publiée"] and " sur twitter " in fr["publiée"]
    assert fr["langue"].startswith("fr (") and "sentiment negative" in fr["langue"]
    assert "(règles\u00a0: " in fr["marques"] and ", reçue " in fr["source"]
    assert es["langue"].startswith("es (") and "non évalué" in es["langue"]
    assert fr["texte"] == records[0]["text"]
    assert done.stderr.startswith("veille mentions\u00a0: absentes de ") and "m-nope" in done.stderr
    listed = veille(settings, "--lang", "fr", "--brand", "acme", "--limit", "1")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1 and "non évalué" in listed.stdout  # m-es, the newest
    assert "retenues dans" in listed.stderr and "les 1 plus récentes affichées" in listed.stderr
    for out in (done, listed):
        said = out.stdout + out.stderr
        assert not [w for w in ENGLISH if w in said], said
        assert "Traceback" not in said
    # The report language as default: the same French.
    by_default = veille(settings.with_(report_language="fr"), "m-fr", "m-es", "m-nope")
    assert (by_default.stdout, by_default.stderr) == (done.stdout, done.stderr)


def test_ids_all_found_need_no_committed_offsets(settings, monkeypatch, capsys) -> None:
    """The enrichment stage's committed offsets are read first (for the trace of an id not
    found), but a refusal of them (an ACL on its group) fails only a command that needs them:
    every id found is shown, exit 0; an id not found asks again, and its refusal is the error."""
    from tests.cli_helpers import run
    from tests.conftest import settings_env
    from tests.integration.test_consumer_example import enriched
    from tests.kafka_helpers import produce as produce_to
    from veille import mentions_trace
    from veille.moderate.store import BrokerError

    ensure_topics(settings)
    record = enriched("m-ok", "Acme Mobile est nul, ma ligne est coupée depuis des jours")
    produce_to(settings, MENTIONS_ENRICHED, [(b"m-ok", json.dumps(record).encode())])
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    asked: list[list[str]] = []

    def refused(_settings: Settings, ids: list[str]) -> dict[int, int | None]:
        asked.append(list(ids))
        raise BrokerError("GROUP_AUTHORIZATION_FAILED")

    monkeypatch.setattr(mentions_trace, "committed_of", refused)
    status, out, err = run(capsys, "mentions", "m-ok")
    assert status == 0, err
    assert out.startswith("mention   m-ok\n") and asked == [["m-ok"]]
    status, out, err = run(capsys, "mentions", "m-ok", "m-nope")
    assert status != 0 and "GROUP_AUTHORIZATION_FAILED" in err, err
    assert asked[1:] == [["m-ok", "m-nope"], ["m-nope"]]
