"""The moderation page's form deciding several cases at once (POST /ui/decisions): a box per
case and one closing decision for those checked, or for every case shown (a filtered list),
through the decision path's checks and write, behind the sign-in and its CSRF token; the
outcome said in English and French."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import pytest

from streams.topics import MODERATION_DECISIONS
from tests.integration.test_moderation_page import browser, serve, sign_in
from tests.kafka_helpers import read_all
from tests.moderation_helpers import ServedApi

pytestmark = pytest.mark.integration


@pytest.fixture
def served(settings) -> Iterator[ServedApi]:
    api = serve(settings)
    yield api
    api.close()


def _bulk(page: str) -> dict[str, list[str]]:
    """The fields of the page's bulk form: its hidden ones (csrf, shown), and the boxes that
    belong to it (form="bulk"), by name."""
    start = page.index('id="bulk"')
    form = page[start:page.index("</form>", start)]
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form):
        fields.setdefault(name, []).append(html.unescape(value))
    fields["boxes"] = [html.unescape(v) for v in re.findall(
        r'<input type="checkbox" form="bulk" name="case_id" id="pick-\d+" value="([^"]*)">', page)]
    return fields


def _form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """A form's fields, a name given more than once (the boxes) as a list: httpx's `data`."""
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _note(page: str) -> str:
    found = re.search(r'<p class="note (\w+)" role="status">([^<]*)</p>', page)
    assert found, page
    return f"{found[1]}: {html.unescape(found[2])}"


def _decisions(settings, count: int) -> list[dict]:
    return [json.loads(m.value) for m in read_all(settings, MODERATION_DECISIONS, count, settle=0.5)]


def test_the_checked_cases_decided_at_once_the_refused_said(served: ServedApi, settings) -> None:
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui?lang=en&brand=acme").text
        fields = _bulk(page)
        # A labelled box per case, belonging to the form by its form attribute (no JavaScript).
        assert fields["boxes"] == ["c-late", "c-old", "c-evil", "c-new"], fields
        assert re.search(r'<label for="pick-0">Select case c-late for the decision on several '
                         r'cases</label>', page)
        assert '<label for="bulk-decision">decision</label>' in page
        assert "Decide all 4 shown" in page
        data = [("csrf", fields["csrf"][0]), ("decision", "reject"), ("reason", "vague de spam"),
                ("which", "checked"), ("case_id", "c-old"), ("case_id", "c-evil"),
                ("case_id", "c-done"), ("case_id", "c-nope"), ("case_id", "c-old")]
        answer = client.post("/ui/decisions?lang=en&brand=acme", data=_form(data))
        assert answer.status_code == 303, answer.text
        assert answer.headers["Location"] == "/ui?lang=en&brand=acme"
        said = _note(client.get(answer.headers["Location"]).text)
        assert said == ("refused: 2 of 4 cases decided: reject. 2 refused, look at them before "
                        "deciding again: c-done (case already closed); c-nope (no such case)."), said
        written = _decisions(settings, 2)
        assert sorted((r["case_id"], r["decision"], r["moderator"], r["reason"]) for r in written) \
            == [("c-evil", "reject", "camille", "vague de spam"),
                ("c-old", "reject", "camille", "vague de spam")]
        # Every case shown, in French: those decided meanwhile refused, the others written.
        fields = _bulk(client.get("/ui?lang=fr&brand=acme").text)
        assert fields["shown"] == ["c-late", "c-old", "c-evil", "c-new"], fields
        data = [("csrf", fields["csrf"][0]), ("decision", "approve"), ("which", "shown"),
                *(("shown", c) for c in fields["shown"])]
        answer = client.post("/ui/decisions?lang=fr&brand=acme", data=_form(data))
        said = _note(client.get(answer.headers["Location"]).text)
        assert said.startswith("refused: 2 dossiers décidés sur 4\u00a0: "), said
        assert "2 refusés, à regarder avant de décider à nouveau\u00a0: c-old (une décision " \
               "attend)\u00a0; c-evil (une décision attend)." in said, said
        assert len(_decisions(settings, 4)) == 4
        # Nothing checked, or a decision that is not a closing one: refused, nothing written.
        for data in ([("csrf", fields["csrf"][0]), ("decision", "approve"), ("which", "checked")],
                     [("csrf", fields["csrf"][0]), ("decision", "escalate"), ("which", "checked"),
                      ("case_id", "c-spam")]):
            answer = client.post("/ui/decisions?lang=en", data=_form(data))
            said = _note(client.get(answer.headers["Location"]).text)
            assert said in ("refused: No case checked: nothing written.",
                            "refused: Only approve, reject or replied decide several cases at "
                            "once: nothing written."), said
        # More than 500 cases checked (a page shows up to 1,000), their ids long: told on the
        # page, not a 413 for a body over a decision's 16 KiB.
        many = [("case_id", f"c-{n:03d}-" + "x" * 240) for n in range(501)]
        answer = client.post("/ui/decisions?lang=en", data=_form(
            [("csrf", fields["csrf"][0]), ("decision", "reject"), ("which", "checked"), *many]))
        assert answer.status_code == 303, answer.text[:300]
        said = _note(client.get(answer.headers["Location"]).text)
        assert said == "refused: 501 cases: at most 500 at once, nothing written.", said
        assert len(_decisions(settings, 4)) == 4


def test_the_bulk_form_is_refused_without_the_sessions_csrf_token(served: ServedApi,
                                                                  settings) -> None:
    with browser(served) as client:
        sign_in(client)
        fields = _bulk(client.get("/ui?lang=fr").text)
        base = [("decision", "reject"), ("which", "checked"), ("case_id", "c-old")]
        for csrf in (None, "", "forged", fields["csrf"][0] + "x"):
            data = base if csrf is None else [("csrf", csrf), *base]
            refused = client.post("/ui/decisions?lang=fr", data=_form(data))
            assert refused.status_code == 403, csrf
            assert "Ce formulaire est périmé ou ne vient pas de cette page" in refused.text
        cross = client.post("/ui/decisions?lang=en", data=_form([("csrf", fields["csrf"][0]), *base]),
                            headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403 and "sent from another site" in cross.text
    with browser(served) as stranger:  # not signed in
        refused = stranger.post("/ui/decisions?lang=en", data=_form([("csrf", fields["csrf"][0]), *base]))
        assert refused.status_code == 403 and "Your session has expired" in refused.text
    assert read_all(settings, MODERATION_DECISIONS, 0, settle=0.5) == []


def test_the_bulk_form_sent_twice_says_its_first_outcome(served: ServedApi, settings) -> None:
    """A double click, or the form sent again from the browser's history: the second sending
    writes nothing and says what the first did ("2 of 2 cases decided"), where every case was
    refused as decided already, which told the moderator nothing was done. And no decision is
    chosen until the moderator chooses one (`required`): leaving the first choice approved a
    wave in one click."""
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui?lang=en&brand=acme").text
        assert re.search(r'<select id="bulk-decision" name="decision" required>'
                         r'<option value="">\(choose\)</option><option value="approve">', page), page
        fields = _bulk(page)
        assert len(fields["key"]) == 1 and fields["key"][0], fields
        assert _bulk(client.get("/ui?lang=en&brand=acme").text)["key"] != fields["key"]  # a form's own
        data = _form([("csrf", fields["csrf"][0]), ("key", fields["key"][0]), ("decision", "reject"),
                      ("which", "checked"), ("case_id", "c-old"), ("case_id", "c-evil")])
        notes = []
        for _ in range(2):
            answer = client.post("/ui/decisions?lang=en&brand=acme", data=data)
            assert answer.status_code == 303, answer.text
            notes.append(_note(client.get(answer.headers["Location"]).text))
        assert notes == ["done: 2 of 2 cases decided: reject."] * 2, notes
        assert len(_decisions(settings, 2)) == 2
        # The same form with another key (a new page): decided already, said so.
        again = client.post("/ui/decisions?lang=en&brand=acme", data={**data, "key": ["other"]})
        said = _note(client.get(again.headers["Location"]).text)
        assert said.startswith("refused: 0 of 2 cases decided: reject. 2 refused"), said
        # No decision chosen (the browser's `required` aside): refused, nothing written.
        none = client.post("/ui/decisions?lang=en", data={**data, "key": ["k3"], "decision": [""]})
        assert _note(client.get(none.headers["Location"]).text) == (
            "refused: Only approve, reject or replied decide several cases at once: nothing written.")
        assert len(_decisions(settings, 2)) == 2
