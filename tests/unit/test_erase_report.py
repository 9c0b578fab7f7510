"""What `veille erase` says, in English and in French (the moderation lead handling an erasure
request is often French-speaking). The erasure itself runs against the real broker in
tests/integration/test_erase.py."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW
from veille.erase import Erasure, Found, report
from veille.settings import Settings

NEWEST = datetime(2026, 12, 6, 16, 35, tzinfo=UTC).timestamp()


def said(result: Erasure, lang: str | None, settings: Settings | None = None) -> str:
    out = io.StringIO()
    report(result, settings or Settings(), out, lang=lang)
    return out.getvalue()


def test_what_erase_says_in_english_and_in_french() -> None:
    result = Erasure("@julie_35", [{"case_id": "e-2"}, {"case_id": "e-1"}], written=True,
                     mentions={MENTIONS_RAW: Found(2, NEWEST), MENTIONS_ENRICHED: Found()})
    en = said(result, "en").splitlines()
    assert en[0].startswith("erased the author, text and link of 2 moderation case(s) on "
                            "moderation.queue: e-2, e-1.")
    assert en[1] == ("mentions.raw: 2 record(s) of '@julie_35', the newest written 2026-12-06 "
                     "16:35 UTC: Kafka cannot delete them one by one; gone with the topic's "
                     "retention (7 days, VEILLE_MENTIONS_RETENTION_DAYS) by 2026-12-13 16:35 UTC")
    assert en[2] == "mentions.enriched: no record of '@julie_35'"
    fr = said(result, "fr").splitlines()
    assert fr[0].startswith("auteur, texte et lien effacés dans 2 dossier(s) de modération de "
                            "moderation.queue\u00a0: e-2, e-1.")
    assert fr[1] == ("mentions.raw\u00a0: 2 enregistrement(s) de '@julie_35', le plus récent écrit "
                     "le 2026-12-06 16:35 UTC\u00a0: Kafka ne sait pas les supprimer un à un\u00a0; "
                     "supprimés avec la rétention du topic (7 jours, VEILLE_MENTIONS_RETENTION_DAYS) "
                     "d'ici le 2026-12-13 16:35 UTC")
    assert fr[2] == "mentions.enriched\u00a0: aucun enregistrement de '@julie_35'"
    assert fr[3].startswith("non cherché\u00a0: mentions.dlq")
    # The language of the moderator tools by default; a dry run and nothing to erase.
    dry = Erasure("bob", [{"case_id": f"c{i}"} for i in range(22)], mentions={})
    assert said(dry, None, Settings(report_language="fr")).startswith(
        "effacerait l'auteur, le texte et le lien de 22 dossier(s) de modération de "
        "moderation.queue\u00a0: c0, c1,")
    assert "c19 et 2 autres (--dry-run\u00a0: rien d'écrit)" in said(dry, "fr")
    assert "c19 and 2 more (--dry-run: nothing written)" in said(dry, "en")
    assert said(Erasure("bob"), "fr").startswith("aucun dossier de modération de 'bob'")
