"""`veille erase --author HANDLE`: an erasure request (GDPR art. 17) for what veille can erase.

Kafka deletes no single record from a topic with a delete policy. moderation.queue, which keeps
a case's author, text and link for VEILLE_MODERATION_RETENTION_DAYS (400 days), is compacted as
well: an erasure marker written after a case's item, with the same key (the case id), takes the
item's place in every view at once (veille.moderation.queue.CaseView) and, on Apache Kafka, on
the broker once the item's segment is cleaned (daily segments). The mentions topics keep their
records until their retention (VEILLE_MENTIONS_RETENTION_DAYS): this command counts the
author's records there and says when the newest goes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW, MODERATION_QUEUE, key_partition
from veille.mentions_view import handle
from veille.moderate.commands import language
from veille.moderate.store import BrokerError, ModerationStore, TopicReader
from veille.moderate.words import NBSP
from veille.moderation.queue import CaseView, erasure_of
from veille.settings import Settings


@dataclass
class Found:
    """The author's records on a mentions topic: how many, and the newest one's broker time."""

    records: int = 0
    newest: float | None = None

    def add(self, at: float | None) -> None:
        self.records += 1
        if at is not None and (self.newest is None or at > self.newest):
            self.newest = at


@dataclass
class Erasure:
    """What `veille erase` found and did."""

    author: str
    cases: list[dict[str, Any]] = field(default_factory=list)  # the items erased (or to erase)
    written: bool = False
    mentions: dict[str, Found] = field(default_factory=dict)  # topic -> the author's records


def cases_of(view: CaseView, author: str) -> list[dict[str, Any]]:
    """The queue items of `author` (as `veille mentions --author` compares handles), one per
    case id (an id queued in several episodes is erased by one marker, which must be the
    current episode's item: once compacted it is the only item of the id, and its queued_at
    tells the views which closed record is the old episode's)."""
    wanted = handle(author)
    items = [*(item for item, _ in view.earlier if item is not None), *view.items.values()]
    return list({item["case_id"]: item for item in items
                 if handle(item.get("author")) == wanted}.values())


def _scan(settings: Settings, author: str, found: dict[str, Found]) -> None:
    """Count the author's records on mentions.raw and mentions.enriched (whole topics)."""
    wanted = handle(author)
    reader: TopicReader | None = None

    def counter(topic: str) -> Callable[[Any], None]:
        def add(value: bytes) -> None:
            try:
                record = json.loads(value)
            except ValueError:  # mentions.raw holds what anyone sent: not all of it JSON
                return
            if isinstance(record, dict) and handle(record.get("author")) == wanted:
                found[topic].add(reader.timestamp if reader is not None else None)
        return add

    for topic in (MENTIONS_RAW, MENTIONS_ENRICHED):
        found[topic] = Found()
    reader = TopicReader(settings, {t: counter(t) for t in found}, decode=None)
    try:
        reader.refresh()
    finally:
        reader.close()


def erase_author(settings: Settings, author: str, *, dry_run: bool = False,
                 ack_timeout: float = 10.0) -> Erasure:
    """Write an erasure marker for each of the author's moderation cases (unless `dry_run`),
    each acknowledged by the broker, then count the author's records left on the mentions
    topics. Raises BrokerError when the broker cannot be read or a marker is not acknowledged."""
    store = ModerationStore(settings, ack_timeout=ack_timeout)
    try:
        view = store.refresh()
        result = Erasure(author, cases_of(view, author))
        if result.cases and not dry_run:
            now = time.time()
            # Whether each case is closed: a marker of a closed case, alone once compacted,
            # stands for it only while its closed record is kept (CaseView.end_pass).
            _write(settings, [erasure_of(item, now, view.status(item["case_id"]) == "closed")
                              for item in result.cases], ack_timeout)
            result.written = True
    finally:
        store.close()
    _scan(settings, author, result.mentions)
    return result


def _write(settings: Settings, markers: list[dict[str, Any]], ack_timeout: float) -> None:
    from veille.collectors.producer import make_producer

    try:
        producer = make_producer(settings, client_id=f"{settings.app_id}-erase",
                                 max_block_ms=int(ack_timeout * 1000),
                                 request_timeout_ms=min(int(ack_timeout * 1000), 14_000),
                                 delivery_timeout_ms=max(int(ack_timeout * 1000), 15_000),
                                 bootstrap_timeout_ms=int(ack_timeout * 1000), linger_ms=0)
    except Exception as exc:
        raise BrokerError(f"cannot reach the broker at {settings.broker_url}: {exc}") from None
    try:
        futures = []
        for marker in markers:
            key = marker["case_id"].encode("utf-8")
            # On the case's partition, as the moderation agent and the tools expect it.
            futures.append(producer.send(
                settings.topic(MODERATION_QUEUE), key=key,
                partition=key_partition(key, settings.topic_partitions),
                value=json.dumps(marker, ensure_ascii=False).encode()))
        for fut in futures:
            fut.get(timeout=ack_timeout)
    except Exception as exc:
        raise BrokerError(f"the broker did not acknowledge every erasure ({type(exc).__name__}); "
                          "run the command again (erasing twice does no harm)") from None
    finally:
        try:
            producer.close(timeout=1)
        except Exception:
            pass


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


#: What `veille erase` says, per language (veille.settings.REPORT_LANGUAGES): the person handling
#: an erasure request may be the French-speaking moderation lead.
ERASE_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "none": "no moderation case of {author!r} on {queue} (none, or erased already)",
        "more": " and {n} more",
        "erased": "erased the author, text and link of {n} moderation case(s) on {queue}: {ids}. "
                  "The tools and the API show them erased now; on Apache Kafka the broker drops "
                  "the originals once their segment is compacted (within about two days)",
        "would": "would erase the author, text and link of {n} moderation case(s) on {queue}: "
                 "{ids} (--dry-run: nothing written)",
        "no_record": "{topic}: no record of {author!r}",
        "gone": "gone with the topic's retention ({days:g} days, VEILLE_MENTIONS_RETENTION_DAYS) "
                "by {at}",
        "kept": "kept for the broker's retention (VEILLE_MENTIONS_RETENTION_DAYS is 0)",
        "records": "{topic}: {n} record(s) of {author!r}, the newest written {at}: Kafka cannot "
                   "delete them one by one; {gone}",
        "not_searched": "not searched: mentions.dlq (refused messages, VEILLE_DLQ_RETENTION_DAYS), "
                        "the reasons moderators wrote on moderation.decisions, the collectors' "
                        "state files (README: Personal data)",
    },
    "fr": {
        "none": "aucun dossier de modération de {author!r} dans {queue} (aucun, ou déjà "
                "effacés)",
        "more": " et {n} autres",
        "erased": f"auteur, texte et lien effacés dans {{n}} dossier(s) de modération de "
                  f"{{queue}}{NBSP}: {{ids}}. Les outils et l'API les montrent effacés dès "
                  f"maintenant{NBSP}; sur Apache Kafka, le broker supprime les originaux une fois "
                  "leur segment compacté (sous deux jours environ)",
        "would": f"effacerait l'auteur, le texte et le lien de {{n}} dossier(s) de modération de "
                 f"{{queue}}{NBSP}: {{ids}} (--dry-run{NBSP}: rien d'écrit)",
        "no_record": f"{{topic}}{NBSP}: aucun enregistrement de {{author!r}}",
        "gone": "supprimés avec la rétention du topic ({days:g} jours, "
                "VEILLE_MENTIONS_RETENTION_DAYS) d'ici le {at}",
        "kept": "gardés selon la rétention du broker (VEILLE_MENTIONS_RETENTION_DAYS vaut 0)",
        "records": f"{{topic}}{NBSP}: {{n}} enregistrement(s) de {{author!r}}, le plus récent écrit "
                   f"le {{at}}{NBSP}: Kafka ne sait pas les supprimer un à un{NBSP}; {{gone}}",
        "not_searched": f"non cherché{NBSP}: mentions.dlq (messages refusés, "
                        "VEILLE_DLQ_RETENTION_DAYS), les motifs écrits par les modérateurs dans "
                        "moderation.decisions, les fichiers d'état des collecteurs (README{NBSP}: "
                        "Personal data)",
    },
}


def report(result: Erasure, settings: Settings, out: TextIO = sys.stdout,
           lang: str | None = None) -> None:
    """What was erased, and what is left where veille cannot erase it record by record, in
    `lang` (default VEILLE_REPORT_LANGUAGE)."""
    t = ERASE_TEXT[language(settings, lang)]
    ids = ", ".join(item["case_id"] for item in result.cases[:20])
    if len(result.cases) > 20:
        ids += t["more"].format(n=len(result.cases) - 20)
    queue = settings.topic(MODERATION_QUEUE)
    n, author = len(result.cases), result.author
    said = (t["none"] if not result.cases else t["erased"] if result.written else t["would"])
    lines = [said.format(author=author, queue=queue, n=n, ids=ids)]
    days = settings.mentions_retention_days
    for topic, found in result.mentions.items():
        name = settings.topic(topic)
        if not found.records:
            lines.append(t["no_record"].format(topic=name, author=author))
            continue
        gone = (t["gone"].format(days=days, at=_when(found.newest + days * 86400))
                if days > 0 and found.newest is not None else t["kept"])
        lines.append(t["records"].format(topic=name, n=found.records, author=author, gone=gone,
                                         at=_when(found.newest) if found.newest is not None else "?"))
    lines.append(t["not_searched"])
    out.write("".join(line + "\n" for line in lines))
