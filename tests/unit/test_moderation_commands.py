"""`veille moderate decide` refuses bad input with a clear message, before asking the broker."""

from __future__ import annotations

import io
import re
import time

import pytest

from veille.broker import free_port
from veille.moderate.commands import Decided, ModerateError, decide, parse_time, tell_decided
from veille.settings import Settings


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"moderator": "al\udcffice"}, "moderator is not valid Unicode text"),  # argv's surrogateescape
    ({"moderator": "alice", "reason": "\ud800"}, "reason is not valid Unicode text"),
    ({"moderator": ""}, "moderator must be a non-empty string"),
])
def test_decide_refuses_bad_text_without_the_broker(kwargs: dict, words: str) -> None:
    nobody = Settings.from_env({}, broker_url=f"kafka://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(ModerateError, match=words):
        decide(nobody, "m1", "approve", **kwargs)
    assert time.monotonic() - started < 5  # no broker round trip


def test_report_times_without_an_offset_are_read_in_the_report_time_zone() -> None:
    """--tz Europe/Paris --since 2026-12-02 starts at midnight in Paris: it was UTC midnight, so
    the report's Paris days were shifted by an hour."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    assert parse_time("2026-12-02", "since", paris) == datetime(2026, 12, 1, 23, tzinfo=UTC).timestamp()
    assert parse_time("2026-07-01T09:00", "since", paris) == datetime(2026, 7, 1, 7, tzinfo=UTC).timestamp()
    # An explicit offset wins; UTC by default.
    assert parse_time("2026-12-02T09:00Z", "since", paris) == datetime(2026, 12, 2, 9, tzinfo=UTC).timestamp()
    assert parse_time("2026-12-02", "since") == datetime(2026, 12, 2, tzinfo=UTC).timestamp()
    with pytest.raises(ModerateError, match="--until: until is not an ISO 8601 time"):
        parse_time("yesterday", "until", paris)


class _Store:
    """ModerationStore's stand-in: the view the topics would give, no broker."""

    view: object = None

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        pass

    def refresh(self) -> object:
        return self.view

    def close(self) -> None:
        pass


def _view_with_an_escalation() -> object:
    from veille.moderation.queue import CaseView, make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    view = CaseView()
    t0 = 1_767_600_000.0
    for n, case_id in enumerate(("esc", "plain", "twice")):
        made = make_item(mention_id=case_id, brands=("acme",), charter=Charter(),
                         triage=Triage(("insult",), "medium", "review", ()), language="fr",
                         sentiment="negative", compound=-0.5, platform="twitter", author="@a",
                         text=f"text {case_id}", url=None, created_at=t0 + n, queued_at=t0 + n)
        view.add_item(made)
    escalate = {"decision": "escalate", "moderator": "alice", "decided_at": t0 + 60}
    view.add_decision({**escalate, "case_id": "esc", "assignee": "lead-bob"})
    view.add_decision({**escalate, "case_id": "twice"})
    view.add_decision({**escalate, "case_id": "twice", "moderator": "bob", "decided_at": t0 + 90})
    return view


def test_list_shows_which_pending_cases_were_escalated_and_to_whom(monkeypatch) -> None:
    """The escalations are on moderation.decisions, which the tools read: the list shows the
    case's severity now (one level up per escalation) and its assignee; --json adds
    `escalation`. Before, an escalated case looked like any other."""
    import io
    import json

    from veille.moderate import commands

    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", _view_with_an_escalation())
    settings = Settings.from_env({})
    out = io.StringIO()
    assert commands.list_cases(settings, out=out, now=1_767_600_000.0 + 120) == 3
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:9] == ["waiting", "due", "case", "brand", "action", "severity",
                                    "escalated", "assigned", "categories"]
    rows = {line.split()[2]: line.split() for line in lines[1:4]}
    assert rows["esc"][5:7] == ["high", "lead-bob"]
    assert rows["plain"][5:7] == ["medium", "-"]
    assert rows["twice"][5:8] == ["high", "2x", "queue"]  # the second sent it back to the queue
    out = io.StringIO()
    commands.list_cases(settings, as_json=True, out=out, now=1_767_600_000.0 + 120)
    shown = {c["case_id"]: c for c in map(json.loads, out.getvalue().splitlines())}
    assert shown["plain"]["escalation"] is None
    assert shown["esc"]["severity"] == "medium"  # triage's, as on the queue
    assert shown["esc"]["escalation"] == {
        "count": 1, "severity": "high", "assignee": "lead-bob", "moderator": "alice",
        "decided_at": "2026-01-05T08:01:00.000Z", "reason": None}


def test_list_marks_the_cases_a_colleague_already_decided(monkeypatch) -> None:
    """A closing decision written but not applied yet (the agent lags, or is down) leaves its
    case pending for everyone: the list marks it `*` and --json gives `decision_pending`, so
    that nobody works on it for a 409 at the end; an escalation is no closing decision."""
    import io
    import json

    from veille.moderate import commands

    view = _view_with_an_escalation()
    view.add_decision({"case_id": "plain", "decision": "replied", "moderator": "carol",  # type: ignore[attr-defined]
                       "decided_at": 1_767_600_100.0})
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    settings = Settings.from_env({})
    out = io.StringIO()
    assert commands.list_cases(settings, out=out, now=1_767_600_000.0 + 120) == 3
    lines = out.getvalue().splitlines()
    marked = {line.split()[3] for line in lines[1:4] if line.split()[1] == "*"}
    assert marked == {"plain"}, lines
    assert "* = a closing decision is already written" in lines[-1]
    out = io.StringIO()
    commands.list_cases(settings, as_json=True, out=out, now=1_767_600_000.0 + 120)
    shown = {c["case_id"]: c for c in map(json.loads, out.getvalue().splitlines())}
    assert shown["plain"]["decision_pending"] == {
        "decision": "replied", "moderator": "carol", "decided_at": "2026-01-05T08:01:40.000Z"}
    assert shown["esc"]["decision_pending"] is None and shown["twice"]["decision_pending"] is None


def test_report_prints_time_to_decision_and_answers(monkeypatch) -> None:
    import io

    from veille.moderate import commands
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import case_of

    view = _view_with_an_escalation()
    item = view.items["plain"]  # type: ignore[attr-defined]
    out = apply_decision(case_of(item), {"case_id": "plain", "decision": "reject",
                                         "moderator": "alice", "decided_at": 1_767_600_600.0},
                         now=1_767_600_600.0)
    view.add_closed(out.record)  # type: ignore[attr-defined]
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    text = io.StringIO()
    result = commands.report(Settings.from_env({}), 1_767_590_000.0, 1_767_610_000.0, out=text)
    assert result.brands["acme"].decision_seconds == [599.0]
    assert "median, p90 = time to decision" in text.getvalue()
    assert "acme                9m59s    9m59s       0        0      0            0          0        -" in \
        text.getvalue()


def test_only_the_api_forgets_closed_cases_the_report_counts_them_all(monkeypatch) -> None:
    """The same topics through the real store (a stand-in reader, no broker): `veille
    moderation report` reads them from the start and counts every case, however long ago it was
    closed; the long-running API's store forgets a case closed more than the agent's 30 days
    ago, item and closed record, once the topics are read to their end (here the closed records
    come first, as they may: the topics are read in no particular order)."""
    import io

    from veille.moderate import commands, store
    from veille.moderate.api import ModerationApi
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import case_of, make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    t0, day = 1_767_600_000.0, 86400.0
    items, closed = [], []
    for n, case_id in enumerate(("a", "b", "c")):
        made = make_item(mention_id=case_id, brands=("acme",), charter=Charter(),
                         triage=Triage(("insult",), "medium", "review", ()), language="fr",
                         sentiment="negative", compound=-0.5, platform="twitter", author="@a",
                         text=f"text {case_id}", url=None, created_at=t0 + n, queued_at=t0 + n)
        assert made is not None
        items.append(made)
    for it, decided in ((items[0], t0 + 600), (items[1], t0 + 20 * day)):  # c stays pending
        out = apply_decision(case_of(it), {"case_id": it["case_id"], "decision": "reject",
                                           "moderator": "alice", "decided_at": decided}, now=decided)
        closed.append(out.record)

    class Reader:
        """TopicReader's stand-in: the whole topics at the first refresh, closed records first."""

        def __init__(self, settings: Settings, handlers: dict, timeout: float = 15.0,
                     keys: tuple[bytes, ...] = (), first: tuple[str, ...] = ()) -> None:
            assert not keys  # the report and the API read the whole topics
            self.handlers = {name.removeprefix(settings.topic_prefix): fn
                             for name, fn in handlers.items()}
            self.done = False
            self.timestamp = None  # no broker time: as before, no record starts a new episode

        def refresh(self) -> int:
            if not self.done:
                for record in closed:
                    self.handlers["moderation.closed"](record)
                for record in items:
                    self.handlers["moderation.queue"](record)
            self.done = True
            return len(closed) + len(items)

        def close(self) -> None:
            pass

    monkeypatch.setattr(store, "TopicReader", Reader)
    settings = Settings.from_env({})
    report = commands.report(settings, t0, t0 + 30 * day, out=io.StringIO())
    assert (report.total.received, report.total.processed, report.total.rejected) == (3, 2, 2)
    api = ModerationApi(settings)
    api.store.clock = lambda: t0 + 40 * day  # a decided 40 days ago, b 20
    view = api.store.refresh()
    assert (view.status("a"), view.status("b"), view.status("c")) == (None, "closed", "pending")
    assert sorted(view.items) == ["b", "c"] and sorted(view.closed) == ["b"]
    assert view.closed_forgotten == 1
    api.store.clock = lambda: t0 + 51 * day  # b decided 31 days ago: gone too
    assert api.store.refresh().status("b") is None and [i["case_id"] for i in view.pending()] == ["c"]
    api.store.close()


def test_list_says_how_long_is_left_to_answer(monkeypatch) -> None:
    """A community manager read `waiting 0m` as how long the customer had waited: a complaint
    posted 9 hours before it was queued looked fresh. `due` counts down to the brand's
    response deadline (from the posting time), overdue with a minus sign; `-` when no answer
    is asked."""
    import io

    from veille.moderate import commands
    from veille.moderation.queue import CaseView, make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    view = CaseView()
    t0 = 1_767_600_000.0
    complaint = Triage(("needs_answer",), "low", "respond", ())
    for case_id, posted, triage, sentiment in (
            ("old", t0 - 9 * 3600, complaint, "negative"), ("new", t0 - 60, complaint, "negative"),
            ("rude", t0 - 60, Triage(("insult",), "medium", "review", ()), "negative"),
            ("calm", t0 - 9 * 3600, complaint, "neutral")):
        view.add_item(make_item(mention_id=case_id, brands=("acme",), charter=Charter(),
                                triage=triage, language="fr", sentiment=sentiment,
                                compound=-0.5 if sentiment == "negative" else 0.0,
                                platform="twitter", author="@a", text="t", url=None,
                                created_at=posted, queued_at=t0))
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    out = io.StringIO()
    commands.list_cases(Settings.from_env({}), out=out, now=t0 + 120)
    rows = {line.split()[2]: line.split()[:2] for line in out.getvalue().splitlines()[1:5]}
    assert Charter().response_deadline_seconds == 2 * 3600  # the default charter's 2 hours
    # posted a minute before queued, listed 2 minutes after: 2h - 3m left; posted 9 hours before
    # queued: 9h02m - 2h overdue (written out: _age itself is under test too).
    assert rows["new"] == ["2m", "+1h57"]
    assert rows["old"] == ["2m!", "-7h02"]
    assert rows["rude"] == ["2m", "-"]
    # Found in review (2026-12-05): a neutral question past its deadline was marked `!`, which
    # the unanswered KPI (negative cases only: the gauge, its alert, the report) does not count,
    # and the alert's runbook sends people to the `!` marks. Overdue still, but not marked.
    assert rows["calm"] == ["2m", "-7h02"]
    assert "due = time left (+) or overdue (-) to answer" in out.getvalue()


def test_show_prints_one_case_whole(monkeypatch) -> None:
    """The list cuts the text at 70 characters and shows no author nor link, which a reply
    needs: `show` prints the case whole, its deadline, escalation and assignee, or how it was
    closed; --json as the API's GET /cases/{id}."""
    import io
    import json

    from veille.moderate import commands
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import CaseView, case_of, make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    view = CaseView()
    t0 = 1_767_600_000.0
    text = "Ça fait 5 jours que j'attends un technicien @acme_fr,\ntoujours personne \x1b[2J !"
    for case_id in ("c1", "c2"):
        view.add_item(make_item(
            mention_id=case_id, brands=("acme", "boreal"), charter=Charter(),
            triage=Triage(("needs_answer",), "low", "respond", ("needs_answer:complaint",)),
            language="fr", sentiment="negative", compound=-0.6, platform="twitter",
            author="@client_fache", text=text, url="https://x.test/s/1",
            created_at=t0 - 9 * 3600, queued_at=t0))
    view.add_decision({"case_id": "c1", "decision": "escalate", "moderator": "alice",
                       "assignee": "lead", "reason": "menace de plainte", "decided_at": t0 + 60})
    done = apply_decision(case_of(view.items["c2"]), {
        "case_id": "c2", "decision": "replied", "moderator": "Amélie", "reason": "répondu en MP",
        "decided_at": t0 + 300}, now=t0 + 300)
    view.add_closed(json.loads(json.dumps(done.record)))
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    settings = Settings.from_env({})
    out = io.StringIO()
    assert commands.show_case(settings, "c1", out=out, now=t0 + 120) == "pending"
    shown = out.getvalue()
    fields = dict(line.split(None, 1) for line in shown.split("\n\n")[0].splitlines())
    assert fields["brand"] == "acme, boreal" and fields["severity"] == "medium"
    assert fields["posted"].endswith("on twitter by @client_fache")
    assert fields["link"] == "https://x.test/s/1"
    assert fields["answer"].startswith("due ") and fields["answer"].endswith(" late)")
    assert fields["escalated"].startswith("1x, last by alice at ")
    assert fields["escalated"].endswith(" to lead: menace de plainte")
    assert fields["assigned"].startswith("lead (escalate by alice at ")
    body = shown.split("\n\n", 1)[1]
    assert body == ("Ça fait 5 jours que j'attends un technicien @acme_fr,\n"
                    "toujours personne \\u001b[2J !\n")  # its line break kept, the escape not
    out = io.StringIO()
    assert commands.show_case(settings, "c2", out=out, now=t0 + 400) == "closed"
    assert "closed      replied by Amélie at " in out.getvalue()
    assert "reason      répondu en MP" in out.getvalue()
    out = io.StringIO()
    commands.show_case(settings, "c1", as_json=True, out=out, now=t0 + 120)
    got = json.loads(out.getvalue())
    assert (got["status"], got["item"]["escalation"]["assignee"], got["closed"]) == (
        "pending", "lead", None)
    with pytest.raises(commands.ModerateError, match="no case 'nope'"):
        commands.show_case(settings, "nope", out=io.StringIO())


def test_the_report_period_is_printed_in_its_time_zone() -> None:
    """`--since 2026-12-04 --tz Europe/Paris` printed its period in UTC (2026-12-03T23:00Z)."""
    from zoneinfo import ZoneInfo

    from veille.moderation.queue import build_report, format_report

    paris = ZoneInfo("Europe/Paris")
    since = parse_time("2026-12-04", "since", paris)
    r = build_report([], [], since, since + 86400, paris)
    assert format_report(r, paris).splitlines()[0] == (
        "moderation report 2026-12-04T00:00+01:00 .. 2026-12-05T00:00+01:00 (Europe/Paris)")
    utc = build_report([], [], since, since + 86400)
    assert format_report(utc).splitlines()[0] == (
        "moderation report 2026-12-03T23:00:00.000Z .. 2026-12-04T23:00:00.000Z")
    assert format_report(utc, ZoneInfo("UTC")).splitlines()[0] == format_report(utc).splitlines()[0]


def test_the_tools_skip_the_decisions_the_agent_sends_again() -> None:
    from streams.topics import key_partition
    from veille.moderation.queue import misplaced

    def on(key: bytes) -> int:
        return key_partition(key, 4)

    home = on(b"r3")
    assert not misplaced("r3", b"r3", home, on)
    assert misplaced("r3", b"other", home, on)  # keyed otherwise
    assert misplaced("r3", b"r3", (home + 1) % 4, on)  # another partitioner
    assert misplaced("r3", None, home, on)
    # Not a decision at all, or an id that cannot be a key: the view refuses it anyway.
    assert not misplaced(None, b"x", 0, on)
    assert not misplaced(["not", "an", "id"], b"x", 0, on)
    assert not misplaced("\ud800", b"x", 0, on)


def test_the_tools_see_a_case_queued_again_after_the_retention_as_the_agent_does(monkeypatch) -> None:
    """The agent forgets a closed case 30 days after its decision and opens a new one when the
    same id is queued again (a replay past the de-duplication window). `veille moderate list`,
    `show`, `decide`, `closed` and `veille moderation report` read the topics from the start with
    one case per id: the new one was not listed, `decide` refused it as closed, the report did
    not count it. Through the real store (a stand-in reader giving each record its broker
    time, the closed records first: the topics are read in no particular order)."""
    import io
    import json

    from tests.moderation_helpers import insult_item
    from veille.moderate import commands, store
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import case_of, decision_record

    now, day = time.time(), 86400.0
    t0 = now - 40 * day

    def queued(at: float) -> dict:
        return insult_item("m1", at)

    first, again = queued(t0), queued(t0 + 39 * day)  # again: 39 days after the decision
    rejected = decision_record("m1", {"decision": "reject", "moderator": "alice"}, t0 + 600)
    out = apply_decision(case_of(first), rejected, now=t0 + 600)
    # topic -> [(broker time, record)]: what the broker holds
    topics: dict[str, list[tuple[float, dict]]] = {
        "moderation.closed": [(t0 + 601, json.loads(json.dumps(out.record)))],
        "moderation.queue": [(t0, first), (t0 + 39 * day, again)],
        "moderation.decisions": [(t0 + 600, rejected)],
    }

    class Reader:
        """TopicReader's stand-in: every record, with its broker time, then what was written since."""

        def __init__(self, settings: Settings, handlers: dict, timeout: float = 15.0,
                     keys: tuple[bytes, ...] = (), first: tuple[str, ...] = ()) -> None:
            self.handlers = {name.removeprefix(settings.topic_prefix): fn
                             for name, fn in handlers.items()}
            self.read = dict.fromkeys(topics, 0)
            self.timestamp: float | None = None
            self.record = None

        def refresh(self) -> int:
            count = 0
            for name, records in topics.items():
                for written, record in records[self.read[name]:]:
                    self.timestamp = written
                    self.handlers[name](record)
                    count += 1
                self.read[name] = len(records)
            return count

        def close(self) -> None:
            pass

    def write(self: store.ModerationStore, case_id: str, body: dict, decided_at: float | None = None
              ) -> dict:
        record = decision_record(case_id, body, time.time() if decided_at is None else decided_at)
        topics["moderation.decisions"].append((time.time(), json.loads(json.dumps(record))))
        return record

    monkeypatch.setattr(store, "TopicReader", Reader)
    monkeypatch.setattr(store.ModerationStore, "decide", write)
    settings = Settings.from_env({})

    listing = io.StringIO()
    assert commands.list_cases(settings, as_json=True, out=listing, now=now) == 1
    assert json.loads(listing.getvalue())["queued_at"] == again["queued_at"]
    shown = io.StringIO()
    assert commands.show_case(settings, "m1", as_json=True, out=shown, now=now) == "pending"
    assert json.loads(shown.getvalue())["closed"] is None
    closed = io.StringIO()
    assert commands.list_closed(settings, as_json=True, out=closed, since=t0) == 1  # the old one
    assert json.loads(closed.getvalue())["decision"] == "reject"
    report = commands.report(settings, t0 - day, now + day, out=io.StringIO())
    assert (report.total.received, report.total.processed, report.pending_at_end) == (2, 1, 1)
    # decide: the new case is pending, the approval is written and read back as applying to it
    record = commands.decide(settings, "m1", "approve", moderator="bob", notes=io.StringIO())
    assert record is not None and record["decision"] == "approve"
    shown = io.StringIO()
    commands.show_case(settings, "m1", as_json=True, out=shown, now=time.time())
    assert json.loads(shown.getvalue())["item"]["decision_pending"]["moderator"] == "bob"
    with pytest.raises(ModerateError, match="already has a decision waiting"):
        commands.decide(settings, "m1", "reject", moderator="carol", notes=io.StringIO())


@pytest.mark.parametrize(("until", "since"), [
    # The Monday after the fall-back Sunday (25 October 2026, a 25-hour day): 7 x 24 h before
    # was 01:00 on the Monday before, and its first hour fell in neither weekly report.
    ("2026-10-26", "2026-10-19T00:00:00+02:00"),
    # After the spring-forward Sunday (29 March 2026, 23 hours): 23:00 on the Sunday before,
    # an hour counted in two weekly reports.
    ("2026-03-30", "2026-03-23T00:00:00+01:00"),
    ("2026-12-07", "2026-11-30T00:00:00+01:00"),  # no change in the week: 7 x 24 h as before
])
def test_the_default_report_week_is_seven_days_of_the_report_time_zone(
        monkeypatch, until: str, since: str) -> None:
    """`veille moderation report --until <Monday> --tz Europe/Paris`, weekly: --since defaults
    to 7 days before, which were 7 x 24 hours, not 7 days of Paris, in a week with a
    daylight-saving change."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from veille import cli
    from veille.moderate import commands

    seen: list[tuple[float, float]] = []
    monkeypatch.setattr(cli, "_reachable", lambda settings: settings)
    monkeypatch.setattr(commands, "report",
                        lambda settings, since, until, **kw: seen.append((since, until)))
    assert cli.main(["moderation", "report", "--until", until, "--tz", "Europe/Paris"]) == 0
    paris = ZoneInfo("Europe/Paris")
    assert seen == [(datetime.fromisoformat(since).timestamp(), parse_time(until, "until", paris))]


def test_the_runbook_says_which_cases_the_list_marks() -> None:
    """ModerationNegativeUnanswered's runbook sends people to the `!` marks of `veille moderate
    list`; it said they also marked non-negative cases, which the alert does not count, while
    the list marks only the negative ones (test_list_says_how_long_is_left_to_answer)."""
    from tests.conftest import ROOT

    text = (ROOT / "deploy/RUNBOOK.md").read_text(encoding="utf-8")
    section = " ".join(text.split("## ModerationNegativeUnanswered", 1)[1].split("\n## ", 1)[0].split())
    assert "also marks non-negative" not in section
    assert "`!` marks only the negative ones, those the alert counts" in section


def test_the_report_help_says_what_its_time_zone_applies_to(capsys) -> None:
    """--help said --tz was the zone of the busiest hours alone: a team reporting with
    `--since 2026-10-25 --tz Europe/Paris` could not tell that the dates, too, are of Paris."""
    from veille import cli

    with pytest.raises(SystemExit):
        cli.main(["moderation", "report", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert ("--tz TZ time zone of the report: of --since and --until without an offset, of its "
            "days and busiest hours (default UTC)") in shown, shown


@pytest.mark.parametrize("period", [
    # The fourth quarter in Paris: 92 days and the fall-back hour. Refused with "--png draws
    # at most 92 days, the period is 92".
    ("--since", "2026-10-01", "--until", "2027-01-01", "--png"),
    # A leap year from a summer-time day to a winter-time one: 366 days and an hour.
    ("--since", "2027-10-30", "--until", "2028-10-30"),
])
def test_the_longest_periods_are_days_of_the_report_time_zone(monkeypatch, tmp_path, period) -> None:
    """A quarter (92 days) or a year (366) of Europe/Paris with a daylight-saving fall-back in
    it is an hour longer than as many times 24 hours: the bounds are days of --tz."""
    from veille import cli
    from veille.moderate import commands

    seen: list[tuple[float, float]] = []
    monkeypatch.setattr(cli, "_reachable", lambda settings: settings)
    monkeypatch.setattr(commands, "report",
                        lambda settings, since, until, **kw: seen.append((since, until)))
    args = [*period, str(tmp_path / "q4.png")] if period[-1] == "--png" else list(period)
    assert cli.main(["moderation", "report", *args, "--tz", "Europe/Paris"]) == 0
    assert len(seen) == 1
    # A day more is still refused.
    later = {"2027-01-01": "2027-01-02", "2028-10-30": "2028-10-31"}[period[3]]
    too_long = [later if a == period[3] else a for a in args]
    assert cli.main(["moderation", "report", *too_long, "--tz", "Europe/Paris"]) == 2


def test_the_report_lists_every_brand_of_the_watch_list(monkeypatch, tmp_path, capsys) -> None:
    """A lead reports on every brand they watch: `veille moderation report` gives each brand of
    VEILLE_WATCHLIST its row, zeros when it had nothing in the period (it was left out until
    2026-12-06); a bad watch list is an error said before the broker is asked."""
    import io

    from veille import cli
    from veille.moderate import commands

    watchlist = tmp_path / "watch.toml"
    watchlist.write_text('[[brands]]\nid = "acme"\nname = "Acme"\n\n'
                         '[[brands]]\nid = "quiet"\nname = "Quiet"\n')
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", _view_with_an_escalation())
    settings = Settings.from_env({"VEILLE_WATCHLIST": str(watchlist)})
    text = io.StringIO()
    result = commands.report(settings, 1_767_590_000.0, 1_767_610_000.0, out=text)
    assert list(result.brands) == ["acme", "quiet"]
    assert re.search(r"^quiet +0 +0 +- +0 +-$", text.getvalue(), re.M), text.getvalue()
    assert re.search(r"^all +3 +0 +0\.0% +0 +-$", text.getvalue(), re.M), text.getvalue()
    # The command: the watch list is read before the broker is asked.
    asked: list[object] = []
    monkeypatch.setattr(cli, "_reachable", lambda settings: asked.append(settings) or settings)
    printed = io.StringIO()
    report = commands.report
    monkeypatch.setattr(commands, "report", lambda *a, **kw: report(*a, **kw, out=printed))
    monkeypatch.setenv("VEILLE_WATCHLIST", str(watchlist))
    assert cli.main(["moderation", "report", "--since", "2026-01-05", "--until", "2026-01-06"]) == 0
    assert re.search(r"^quiet +0 +0 +- +0 +-$", printed.getvalue(), re.M), printed.getvalue()
    watchlist.write_text("[[brands]\n")
    assert cli.main(["moderation", "report", "--since", "2026-01-05", "--until", "2026-01-06"]) == 2
    assert f"veille: error: watch list {watchlist} is not valid TOML" in capsys.readouterr().err
    assert len(asked) == 1  # not for the bad watch list


def test_list_marks_a_categories_column_cut_to_fit(monkeypatch) -> None:
    """`insult,aggressive,needs_answer` was listed as `insult,aggressive,needs_answ`: a category
    that does not exist, cut without a mark, while the text and assigned columns end a cut with
    `…` (seen on the demo, 2026-12-06)."""
    import io

    from veille.moderate import commands
    from veille.moderation.queue import CaseView, make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    view = CaseView()
    t0 = 1_767_600_000.0
    for case_id, categories in (("many", ("insult", "aggressive", "needs_answer")),
                                ("two", ("aggressive", "needs_answer"))):
        view.add_item(make_item(mention_id=case_id, brands=("acme",), charter=Charter(),
                                triage=Triage(categories, "medium", "review", ()), language="fr",
                                sentiment="negative", compound=-0.5, platform="twitter",
                                author="@a", text="the text", url=None, created_at=t0 - 60,
                                queued_at=t0))
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    out = io.StringIO()
    commands.list_cases(Settings.from_env({}), out=out, now=t0 + 120)
    rows = {line.split()[2]: line for line in out.getvalue().splitlines()[1:3]}
    assert " insult,aggressive,needs_ans… the text" in rows["many"], rows["many"]
    assert " aggressive,needs_answer      the text" in rows["two"], rows["two"]


def test_closed_tells_the_reason_from_the_text(monkeypatch) -> None:
    """`reason | text`: a decision without a reason showed its mention's text alone in that
    column, read as the moderator's reason ("Still waiting for a Acme technician..." under a
    `replied`; seen on the demo, 2026-12-06). A missing reason is `-`."""
    import io

    from veille.moderate import commands
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import case_of

    view = _view_with_an_escalation()
    for case_id, reason in (("plain", "insulte"), ("esc", None)):
        decision = {"case_id": case_id, "decision": "reject", "moderator": "alice",
                    "decided_at": 1_767_600_600.0, **({"reason": reason} if reason else {})}
        item = view.items[case_id]  # type: ignore[attr-defined]
        view.add_closed(apply_decision(case_of(item), decision,  # type: ignore[attr-defined]
                                       now=1_767_600_600.0).record)
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    out = io.StringIO()
    commands.list_closed(Settings.from_env({}), since=1_767_590_000.0, until=1_767_610_000.0,
                         out=out)
    rows = {line.split()[2]: line for line in out.getvalue().splitlines()[1:3]}
    assert rows["plain"].endswith("  insulte | text plain"), rows
    assert rows["esc"].endswith("  - | text esc"), rows


NB = "\u00a0"  # French typography: before : ; % ! ?


def _columns(header: str, row: str, names: list[str], values: list[str]) -> None:
    """Each value starts where its column's header does (left-aligned columns) or ends where it
    ends (right-aligned: the first two of the list): the table stays aligned in French."""
    for name, value in zip(names, values, strict=True):
        assert header.index(name) == row.index(value), (name, value, header, row)


def test_list_in_french(monkeypatch) -> None:
    """`--lang fr` (or VEILLE_REPORT_LANGUAGE=fr): the header, the cells people read (action,
    severity, `3j04h`, `file`) and the legend in French, the columns aligned under the longer
    French headers; the category names as the metrics' and --category's; --json unchanged."""
    import io
    import json

    from veille.moderate import commands
    from veille.moderation.queue import make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    t0 = 1_767_600_000.0
    view = _view_with_an_escalation()
    view.add_item(make_item(  # type: ignore[attr-defined]
        mention_id="late", brands=("boreal",), charter=Charter(),
        triage=Triage(("needs_answer",), "low", "respond", ("needs_answer:complaint",)),
        language="fr", sentiment="negative", compound=-0.6, platform="twitter",
        author="@client", text="Toujours pas livré !", url=None,
        created_at=t0 - 3 * 86400 - 4 * 3600, queued_at=t0))
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    english = io.StringIO()
    commands.list_cases(Settings.from_env({}), out=english, now=t0 + 120)
    french = io.StringIO()
    assert commands.list_cases(Settings.from_env({}), out=french, now=t0 + 120, lang="fr") == 4
    lines = french.getvalue().splitlines()
    assert lines[0].split() == ["attente", "échéance", "dossier", "marque", "action", "gravité",
                                "escaladé", "assigné", "à", "catégories", "texte"]
    rows = {line.split()[2]: line for line in lines[1:5]}
    assert rows["late"].split()[:7] == ["2m!", "-3j02h", "late", "boreal", "répondre", "faible", "-"]
    assert rows["esc"].split()[3:7] == ["acme", "examiner", "haute", "lead-bob"]
    assert rows["twice"].split()[5:8] == ["haute", "2x", "file"]  # the escalation queue
    _columns(lines[0], rows["late"], ["dossier", "marque", "action", "gravité", "escaladé",
                                      "catégories", "texte"],
             ["late ", "boreal", "répondre", "faible", "- ", "needs_answer", "Toujours"])
    assert lines[0].index("échéance") + len("échéance") == rows["late"].index("-3j02h") + 6
    assert lines[5].startswith(f"4 en attente{NB}; attente = depuis l'entrée "
                               f"dans la file{NB}; échéance = temps restant (+) ou retard (-)")
    assert f"! = un dossier négatif en retard (compté parmi les échus){NB}; * = " in lines[5]
    assert lines[5].endswith(f"{NB}; assigné à = qui le traite (- personne)")
    # English unchanged; VEILLE_REPORT_LANGUAGE=fr is French without --lang, --lang en wins.
    assert english.getvalue().splitlines()[0].split()[:3] == ["waiting", "due", "case"]
    assert "-3d02h late " in english.getvalue()
    out = io.StringIO()
    commands.list_cases(Settings.from_env({"VEILLE_REPORT_LANGUAGE": "fr"}), out=out,
                        now=t0 + 120)
    assert out.getvalue() == french.getvalue()
    out = io.StringIO()
    commands.list_cases(Settings.from_env({"VEILLE_REPORT_LANGUAGE": "fr"}), out=out,
                        now=t0 + 120, lang="en")
    assert out.getvalue() == english.getvalue()
    # --json: the API's English keys and values, whatever the language.
    jsons = []
    for lang in ("en", "fr"):
        out = io.StringIO()
        commands.list_cases(Settings.from_env({}), out=out, now=t0 + 120, as_json=True, lang=lang)
        jsons.append(out.getvalue())
    assert jsons[0] == jsons[1] and json.loads(jsons[1].splitlines()[0])["action"] == "review"


def test_show_in_french(monkeypatch) -> None:
    """`show --lang fr`: the rows' names, the status, the sentences (deadline, escalation,
    assignment, closing) in French, durations as the report prints them (`3j02h`)."""
    import io

    from veille.moderate import commands
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import CaseView, case_of, make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    view = CaseView()
    t0 = 1_767_600_000.0
    for case_id in ("c1", "c2"):
        view.add_item(make_item(
            mention_id=case_id, brands=("acme",), charter=Charter(),
            triage=Triage(("needs_answer",), "low", "respond", ("needs_answer:complaint",)),
            language="fr", sentiment="negative", compound=-0.6, platform="twitter",
            author="@client_fache", text="Toujours personne !", url="https://x.test/s/1",
            created_at=t0 - 3 * 86400, queued_at=t0))
    view.add_decision({"case_id": "c1", "decision": "escalate", "moderator": "alice",
                       "assignee": "lead", "reason": "menace de plainte", "decided_at": t0 + 60})
    view.add_closed(apply_decision(case_of(view.items["c2"]), {
        "case_id": "c2", "decision": "replied", "moderator": "Amélie", "reason": "répondu en MP",
        "decided_at": t0 + 300}, now=t0 + 300).record)
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    out = io.StringIO()
    assert commands.show_case(Settings.from_env({}), "c1", out=out, now=t0 + 120, lang="fr") == "pending"
    head, body = out.getvalue().split("\n\n")
    lines = head.splitlines()
    assert [line[:12] for line in lines] == [
        "dossier     ", "statut      ", "marque      ", "action      ", "gravité     ",
        "catégories  ", "raisons     ", "publié      ", "lien        ", "langue      ",
        "en file     ", "échéance    ", "escaladé    ", "assigné à   "]
    fields = {line[:12].strip(): line[12:] for line in lines}
    assert fields["statut"] == "en attente" and fields["action"] == "répondre"
    assert fields["gravité"] == "moyenne"  # one level up: escalated
    assert fields["publié"] == "2026-01-02T08:00:00.000Z sur twitter par @client_fache"
    assert fields["langue"] == "fr, sentiment négatif"
    assert fields["en file"] == "2026-01-05T08:00:00.000Z (il y a 2m)"
    assert fields["échéance"] == "2026-01-02T10:00:00.000Z (2j22h de retard)"
    assert fields["escaladé"] == ("1x, en dernier par alice le 2026-01-05T08:01:00.000Z, vers "
                                  f"lead{NB}: menace de plainte")
    assert fields["assigné à"] == "lead (escaladé par alice le 2026-01-05T08:01:00.000Z)"
    assert body == "Toujours personne !\n"
    out = io.StringIO()
    assert commands.show_case(Settings.from_env({"VEILLE_REPORT_LANGUAGE": "fr"}), "c2", out=out,
                              now=t0 + 400) == "closed"
    assert "statut      clos\n" in out.getvalue()
    assert ("clos        répondu par Amélie le 2026-01-05T08:05:00.000Z, après 5m00s dans la "
            "file\nmotif       répondu en MP\n") in out.getvalue()
    out = io.StringIO()
    commands.show_case(Settings.from_env({}), "c2", out=out, now=t0 + 400)
    assert "closed      replied by Amélie at 2026-01-05T08:05:00.000Z, after 5m00s in the queue" \
        in out.getvalue()


def test_show_in_french_says_a_case_was_erased(monkeypatch) -> None:
    import io

    from veille.moderate import commands
    from veille.moderate.api import summary

    view = _view_with_an_escalation()
    item = view.items["plain"]  # type: ignore[attr-defined]
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    monkeypatch.setattr("veille.moderate.api.summary",
                        lambda item, view, now: {**summary(item, view, now),
                                                 "erased_at": "2026-01-06T10:00:00.000Z"})
    out = io.StringIO()
    commands.show_case(Settings.from_env({}), item["case_id"], out=out, now=1_767_600_120.0,
                       lang="fr")
    assert out.getvalue().endswith(f"\n\n(auteur, texte et lien effacés le 2026-01-06T10:00:00.000Z"
                                   f"{NB}: veille erase)\n")


def test_closed_in_french(monkeypatch) -> None:
    import io

    from veille.moderate import commands
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import case_of

    view = _view_with_an_escalation()
    for case_id, at in (("plain", 1_767_600_600.0), ("esc", 1_767_600_000.0 + 3 * 86400 + 4 * 3600)):
        decision = {"case_id": case_id, "decision": "reject" if case_id == "plain" else "approve",
                    "moderator": "alice", "decided_at": at, "reason": "insulte"}
        item = view.items[case_id]  # type: ignore[attr-defined]
        view.add_closed(apply_decision(case_of(item), decision, now=at).record)  # type: ignore[attr-defined]
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    out = io.StringIO()
    assert commands.list_closed(Settings.from_env({}), since=1_767_590_000.0,
                                until=1_767_610_000.0 + 4 * 86400, out=out, lang="fr", limit=1) == 2
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["décidé", "(UTC)", "dossier", "marque", "décision", "modérateur",
                                "attente", "motif", "|", "texte"]
    assert lines[1] == ("2026-01-08 12:00  esc                      acme       approuvé alice   "
                        "       3j04h  insulte | text esc")
    _columns(lines[0], lines[1], ["dossier", "marque", "décision", "modérateur", "motif"],
             ["esc", "acme", "approuvé", "alice", "insulte"])
    assert lines[2] == f"2 clos (dont 1 non affiché){NB}; attente = de l'entrée dans la file à cette décision"
    out = io.StringIO()
    commands.list_closed(Settings.from_env({}), since=1_767_590_000.0,
                         until=1_767_610_000.0 + 4 * 86400, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["decided", "(UTC)", "case"]
    assert " reject   alice          9m59s  insulte | text plain" in lines[2]
    assert lines[3] == "2 closed; waited = from entering the queue to this decision"


class _WritingStore(_Store):
    """_Store that also takes a decision, as the broker would, and reads nothing new back."""

    def decide(self, case_id: str, body: dict, decided_at: float | None) -> dict:
        from veille.moderation.queue import decision_record

        return decision_record(case_id, body, time.time() if decided_at is None else decided_at)

    def read_back(self, case_id: str, record: dict, seen: int, lang: str = "en", *,
                  fresh: bool = True) -> None:
        return None


def test_decide_says_in_french_what_it_wrote(monkeypatch) -> None:
    """`decide --lang fr`: its notes on stderr, the line once written, and its refusals in
    French (the refusals stayed English until 2026-12-06)."""
    import io

    from veille.moderate import commands
    from veille.moderation.queue import CaseView

    view = _view_with_an_escalation()
    assert isinstance(view, CaseView)
    monkeypatch.setattr(commands, "ModerationStore", _WritingStore)
    monkeypatch.setattr(_Store, "view", view)
    settings = Settings.from_env({"VEILLE_REPORT_LANGUAGE": "fr"})
    notes = io.StringIO()
    assert commands.decide(settings, "plain", "unassign", moderator="bob", notes=notes) is None
    assert notes.getvalue() == f"veille: rien d'enregistré{NB}: personne ne traite le dossier 'plain'\n"
    notes = io.StringIO()
    record = commands.decide(settings, "esc", "replied", moderator="bob", notes=notes,
                             decided_at=1_767_600_300.0)
    assert record is not None
    assert notes.getvalue() == (f"veille: remarque{NB}: le dossier 'esc' était assigné à lead-bob "
                                "(escaladé par alice le 2026-01-05T08:01:00.000Z)\n")
    assert commands.written(record, "fr") == (f"décision enregistrée{NB}: répondu, dossier esc, "
                                              "par bob le 2026-01-05T08:05:00.000Z")
    assert commands.written({**record, "decision": "assign", "assignee": "alice"}, "fr") == (
        f"décision enregistrée{NB}: assigné à alice, dossier esc, par bob le "
        "2026-01-05T08:05:00.000Z")
    assert commands.written(record) == ("decision written: replied on esc by bob at "
                                        "2026-01-05T08:05:00.000Z")
    view.add_decision({"case_id": "plain", "decision": "assign", "moderator": "alice",
                       "assignee": "alice", "decided_at": 1_767_600_100.0})
    notes = io.StringIO()
    assert commands.decide(settings, "plain", "assign", moderator="alice", assignee="alice",
                           notes=notes, lang="en") is None
    assert notes.getvalue() == ("veille: nothing written: case 'plain' is already alice's (assign "
                                "by alice at 2026-01-05T08:01:40.000Z)\n")
    notes = io.StringIO()
    commands.decide(settings, "plain", "assign", moderator="alice", notes=notes, assignee="alice")
    assert notes.getvalue() == (f"veille: rien d'enregistré{NB}: le dossier 'plain' est déjà à "
                                "alice (assigné par alice le 2026-01-05T08:01:40.000Z)\n")
    with pytest.raises(ModerateError) as refused:
        commands.decide(settings, "nope", "approve", moderator="bob", notes=notes)
    assert str(refused.value) == ("pas de dossier 'nope' dans la file de modération "
                                  "(--no-check enregistre la décision quand même)")
    with pytest.raises(ModerateError, match="no case 'nope' on the moderation queue"):
        commands.decide(settings, "nope", "approve", moderator="bob", notes=notes, lang="en")
    # A closing decision waiting for the agent, then the case closed.
    view.add_decision({"case_id": "twice", "decision": "reject", "moderator": "carol",
                       "decided_at": "2026-01-05T08:03:20.000Z"})  # as on the topic
    for lang, said in (("fr", f"le dossier 'twice' a déjà une décision en attente d'être "
                              f"appliquée{NB}: rejeté par carol le 2026-01-05T08:03:20.000Z "
                              "(--no-check enregistre celle-ci quand même)"),
                       ("en", "case 'twice' already has a decision waiting to be applied: reject "
                              "by carol at 2026-01-05T08:03:20.000Z (--no-check writes this one "
                              "anyway)")):
        with pytest.raises(ModerateError) as refused:
            commands.decide(settings, "twice", "approve", moderator="bob", notes=notes, lang=lang)
        assert str(refused.value) == said
    view.add_closed({"case_id": "twice", "decision": "reject", "moderator": "carol",
                     "decided_at": 1_767_600_200.0})
    for lang, said in (("fr", f"le dossier 'twice' est déjà clos{NB}: rejeté par carol"),
                       ("en", "case 'twice' is already closed: reject by carol")):
        with pytest.raises(ModerateError) as refused:
            commands.decide(settings, "twice", "approve", moderator="bob", notes=notes, lang=lang)
        assert str(refused.value) == said


def test_the_refusals_read_back_are_said_in_the_moderators_language() -> None:
    """What `decide` says when the agent will ignore a decision written (read back from the
    topics), in French with `--lang fr`; the API's `detail` keeps the English."""
    from veille.moderate.store import assigned_first, closed_first, decided_first, would_ignore
    from veille.moderation.cases import DecisionError

    first = {"decision": "reject", "moderator": "carol", "decided_at": "2026-01-05T08:03:20.000Z",
             "assignee": None}
    assert decided_first("c1", first) == ("decision written, but case 'c1' was decided first by "
                                          "'carol' (reject): the agent applies that one and will "
                                          "ignore yours")
    assert decided_first("c1", first, "fr") == (
        f"décision enregistrée, mais le dossier 'c1' a été tranché avant par 'carol' (rejeté){NB}: "
        "l'agent applique cette décision-là et ignorera la vôtre")
    assert closed_first("c1", first, "fr") == (
        f"décision enregistrée, mais l'agent ne l'a pas appliquée{NB}: le dossier 'c1' est clos "
        "(rejeté par 'carol' le 2026-01-05T08:03:20.000Z)")
    taken = {**first, "decision": "assign", "assignee": "alice"}
    assert assigned_first("c1", taken) == (
        "decision written, but case 'c1' is alice's since assign by 'carol' at "
        "2026-01-05T08:03:20.000Z, written first: the agent ignores yours; look at the case "
        "before deciding again")
    assert assigned_first("c1", taken, "fr") == (
        "décision enregistrée, mais le dossier 'c1' est à alice depuis la décision assigné de "
        f"'carol' le 2026-01-05T08:03:20.000Z, enregistrée avant{NB}: l'agent ignore la "
        f"vôtre{NB}; regardez le dossier avant de décider à nouveau")
    assert assigned_first("c1", {"assignee": None}, "fr").startswith(
        "décision enregistrée, mais le dossier 'c1' n'est à personne" + NB + ":")
    problem = DecisionError("invalid", "case 'c1' already has 100 decisions")
    assert would_ignore("c1", problem, "fr") == (
        f"dossier 'c1'{NB}: l'agent ignorerait cette décision{NB}: case 'c1' already has 100 "
        "decisions")


def test_decide_prints_its_line_in_the_language_asked(monkeypatch, capsys) -> None:
    """The CLI: `--lang` on list, show, closed and decide, default VEILLE_REPORT_LANGUAGE."""
    from veille import cli
    from veille.moderate import commands

    monkeypatch.setattr(cli, "_reachable", lambda settings: settings)
    monkeypatch.setattr(commands, "ModerationStore", _WritingStore)
    monkeypatch.setattr(_Store, "view", _view_with_an_escalation())
    assert cli.main(["moderate", "decide", "plain", "rejeter", "--moderator", "bob",
                     "--lang", "fr"]) == 0
    assert capsys.readouterr().err.startswith(f"décision enregistrée{NB}: rejeté, dossier plain, "
                                              "par bob le ")
    monkeypatch.setenv("VEILLE_REPORT_LANGUAGE", "fr")
    assert cli.main(["moderate", "decide", "plain", "approve", "--moderator", "bob"]) == 0
    assert capsys.readouterr().err.startswith(f"décision enregistrée{NB}: approuvé, dossier plain")
    assert cli.main(["moderate", "decide", "plain", "approve", "--moderator", "bob",
                     "--lang", "en"]) == 0
    assert capsys.readouterr().err.startswith("decision written: approve on plain by bob at ")
    asked: list[tuple[str, str | None]] = []
    for name in ("list_cases", "list_closed", "show_case"):
        monkeypatch.setattr(commands, name, lambda *a, _name=name, **kw: asked.append((_name, kw["lang"])))
    assert cli.main(["moderate", "list", "--lang", "fr"]) == 0
    assert cli.main(["moderate", "closed", "--lang", "en"]) == 0
    assert cli.main(["moderate", "show", "plain"]) == 0  # the settings' language, said below
    assert asked == [("list_cases", "fr"), ("list_closed", "en"), ("show_case", None)]
    with pytest.raises(SystemExit):
        cli.main(["moderate", "list", "--lang", "de"])
    assert "invalid choice: 'de'" in capsys.readouterr().err


def test_closed_says_a_case_was_erased(monkeypatch) -> None:
    """`veille erase` on a closed case: `closed` printed its reason alone, as for a case whose
    queue item is gone, and `--json` (the API's /closed rows) had no `erased_at`, although the
    README says every tool shows the case erased (seen on the demo, 2026-12-06)."""
    import io
    import json

    from veille.moderate import commands
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import case_of, erase_fields

    view = _view_with_an_escalation()
    item = view.items["plain"]  # type: ignore[attr-defined]
    view.add_closed(apply_decision(case_of(item), {  # type: ignore[attr-defined]
        "case_id": "plain", "decision": "reject", "moderator": "alice",
        "decided_at": 1_767_600_600.0, "reason": "insulte"}, now=1_767_600_600.0).record)
    erase_fields(item, "2026-01-06T10:00:00.000Z")
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    period = {"since": 1_767_590_000.0, "until": 1_767_610_000.0}
    for lang, said in (("fr", "insulte | (effacé le 2026-01-06T10:00:00.000Z)"),
                       ("en", "insulte | (erased 2026-01-06T10:00:00.000Z)")):
        out = io.StringIO()
        commands.list_closed(Settings.from_env({}), out=out, lang=lang, **period)
        assert out.getvalue().splitlines()[1].endswith(f"  {said}"), out.getvalue()
    out = io.StringIO()
    commands.list_closed(Settings.from_env({}), out=out, as_json=True, **period)
    row = json.loads(out.getvalue())
    assert (row["author"], row["text"], row["url"], row["erased_at"]) == (
        None, "", None, "2026-01-06T10:00:00.000Z")


def test_list_escalated_gives_the_escalation_queue_and_a_leads_cases(monkeypatch, capsys) -> None:
    """A lead had no way to list the escalation queue: `--escalated` keeps the escalated
    cases; with --unassigned, those no one took (the escalation queue); with --assignee, the
    ones escalated to them (or taken since)."""
    import functools
    import io
    import json

    from veille import cli
    from veille.moderate import commands

    monkeypatch.setattr(cli, "_reachable", lambda settings: settings)
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", _view_with_an_escalation())
    out = io.StringIO()
    monkeypatch.setattr(commands, "list_cases", functools.partial(
        commands.list_cases, out=out, now=1_767_600_000.0 + 120))

    def listed(*args: str) -> list[str]:
        out.seek(0)
        out.truncate()
        assert cli.main(["moderate", "list", *args, "--json"]) == 0
        return [json.loads(line)["case_id"] for line in out.getvalue().splitlines()]

    assert listed() == ["esc", "plain", "twice"]
    assert listed("--escalated") == ["esc", "twice"]
    assert listed("--escalated", "--unassigned") == ["twice"]  # sent back to the queue
    assert listed("--escalated", "--assignee", "lead-bob") == ["esc"]
    assert listed("--unassigned") == ["plain", "twice"]
    out.seek(0)
    out.truncate()
    assert cli.main(["moderate", "list", "--escalated", "--lang", "fr"]) == 0
    assert out.getvalue().splitlines()[-1].startswith("2 en attente")
    with pytest.raises(SystemExit):
        cli.main(["moderate", "list", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "--escalated only the escalated cases" in said, said
    assert "with --unassigned: the escalation queue" in said, said


def test_an_answer_seen_on_a_platform_is_said_so_and_listed_as_any_reply(monkeypatch) -> None:
    """A collector saw the brand's answer on YouTube 20 minutes before the comment was queued:
    the tools fold it as the agent applies it (pending: "applies shortly"; closed: how), say
    it was seen on the platform, not written by a moderator, and `closed` lists it as any reply."""
    import io
    import json

    from veille.moderate import commands
    from veille.moderate.api import summary
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import CaseView, case_of, make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    t0 = 1_767_600_000.0
    seen = {"case_id": "yt", "decision": "replied", "moderator": "@AcmeOfficial",
            "decided_at": t0 - 1200, "reason": "https://www.youtube.com/watch?v=x&lc=Ugx",
            "answered_on": "youtube"}
    view = CaseView()
    view.add_item(make_item(
        mention_id="yt", brands=("acme",), charter=Charter(),
        triage=Triage(("needs_answer",), "low", "respond", ("needs_answer:complaint",)),
        language="fr", sentiment="negative", compound=-0.6, platform="youtube", author="@c",
        text="toujours rien", url=None, created_at=t0 - 3600, queued_at=t0))
    view.add_decision(seen)
    pending = summary(view.items["yt"], view, t0 + 10)["decision_pending"]
    assert pending["answered_on"] == "youtube"
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    settings = Settings.from_env({})
    out = io.StringIO()
    commands.show_case(settings, "yt", out=out, now=t0 + 10)
    assert "replied (seen on youtube) by @AcmeOfficial at " in out.getvalue()
    assert "(the agent applies it shortly)" in out.getvalue()
    done = apply_decision(case_of(view.items["yt"]), seen, now=t0 + 10)
    view.add_closed(json.loads(json.dumps(done.record)))
    for lang, words in (("en", "closed      replied (seen on youtube) by @AcmeOfficial at "),
                        ("fr", "répondu (vu sur youtube) par @AcmeOfficial le ")):
        out = io.StringIO()
        assert commands.show_case(settings, "yt", out=out, now=t0 + 10, lang=lang) == "closed"
        assert words in out.getvalue(), out.getvalue()
    out = io.StringIO()
    assert commands.list_closed(settings, decision="replied", since=t0 - 7200, until=t0 + 60,
                                as_json=True, out=out) == 1
    row = json.loads(out.getvalue())
    assert (row["decision"], row["answered_on"], row["time_to_decision_seconds"]) == (
        "replied", "youtube", 0.0)
    assert row["answer"] == "on_time"
    out = io.StringIO()
    commands.list_closed(settings, since=t0 - 7200, until=t0 + 60, out=out)
    assert " replied  @AcmeOffici… " in out.getvalue(), out.getvalue()


def _told(found: list, lang: str) -> str:
    out = io.StringIO()
    tell_decided(found, lang, out)
    return out.getvalue().splitlines()[-1]


def test_several_cases_summary_agrees_with_its_counts_in_french_and_english() -> None:
    """`decide ID ID... --lang fr`'s summary said « 1 décisions enregistrées sur 2 ; refusés
    (regardez-les, ...) : nope-8 » and « 0 décisions enregistrées »: French puts 0 and 1 in
    the singular (as the page's « 0 dossier décidé sur 8 »); one case refused is « refusé »."""
    record = {"case_id": "a", "decision": "approve", "moderator": "bob",
              "decided_at": 1_780_000_000.0}
    ok, nope = Decided("a", record), Decided("nope-8", None, "no such case")
    late = Decided("b", None, "timed out", unacknowledged=True)
    nbsp = "\u00a0"
    assert _told([ok, nope], "fr") == (
        f"1 décision enregistrée sur 2{nbsp}; refusé (regardez-le, puis décidez-le à "
        f"nouveau){nbsp}: nope-8")
    assert _told([nope, Decided("nope-9", None, "no such case")], "fr").startswith(
        f"0 décision enregistrée sur 2{nbsp}; refusés (regardez-les, puis décidez chacun à "
        "nouveau)")
    assert _told([ok, Decided("c", record)], "fr") == "2 décisions enregistrées sur 2"
    assert _told([ok, late], "fr") == (
        f"1 décision enregistrée sur 2{nbsp}; non confirmé (peut-être enregistré{nbsp}: "
        f"regardez-le avant de décider à nouveau){nbsp}: b")
    assert _told([ok], "en") == "1 of 1 decision written"
    assert _told([ok, nope], "en") == (
        "1 of 2 decisions written; refused (look at it, then decide it again): nope-8")
    assert _told([ok, late], "en") == (
        "1 of 2 decisions written; not acknowledged (may still be written: look at it "
        "before deciding again): b")


def test_list_and_closed_print_case_ids_and_brands_whole(monkeypatch) -> None:
    """A Bluesky or RSS case's id is 40 characters (`bluesky-` and a hash): `list` cut it to 24,
    and the brand `segolene-royal` to `segolene-r`, which `show`, `decide` and `--brand` do not
    know (a review on real tweets, 2026-12-07). Whole, each column as wide as its longest."""
    from veille.moderate import commands
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import CaseView, case_of, make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    view = CaseView()
    t0 = 1_767_600_000.0
    long_id, brand = "bluesky-" + "0123456789abcdef" * 2, "segolene-royal"
    for case_id, case_brand in ((long_id, brand), ("short", "acme")):
        view.add_item(make_item(mention_id=case_id, brands=(case_brand,), charter=Charter(),
                                triage=Triage(("insult",), "medium", "review", ()), language="fr",
                                sentiment="negative", compound=-0.5, platform="bluesky",
                                author="@a", text=f"text {case_id}", url=None, created_at=t0 - 60,
                                queued_at=t0))
    monkeypatch.setattr(commands, "ModerationStore", _Store)
    monkeypatch.setattr(_Store, "view", view)
    out = io.StringIO()
    commands.list_cases(Settings.from_env({}), out=out, now=t0 + 120)
    header, *rows = out.getvalue().splitlines()[:3]
    assert [row.split()[2:4] for row in rows] == [[long_id, brand], ["short", "acme"]]
    _columns(header, rows[1], ["brand"], ["acme"])  # aligned under the longer values
    assert rows[0].index("text ") == rows[1].index("text ")

    decided = {"decision": "reject", "moderator": "alice", "decided_at": t0 + 600}
    view.add_closed(apply_decision(case_of(view.items[long_id]),  # type: ignore[attr-defined]
                                   {**decided, "case_id": long_id}, now=t0 + 600).record)
    out = io.StringIO()
    commands.list_closed(Settings.from_env({}), since=t0 - 3600, until=t0 + 3600, out=out)
    assert out.getvalue().splitlines()[1].split()[2:4] == [long_id, brand]
