"""Moderation test helpers: the API served from a thread, mentions, metrics scraping, waiting."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import MISSING, ROOT, Scrape, scrape_page
from veille.moderate.api import ModerationApi
from veille.settings import Settings

WATCHLIST = str(ROOT / "tests/data/moderation_watchlist.toml")


def insult_item(case_id: str, queued_at: float) -> dict[str, Any]:
    """A queue item for `case_id`: an insult about acme, posted a minute before it was queued."""
    from veille.moderation.queue import make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    made = make_item(mention_id=case_id, brands=("acme",), charter=Charter(),
                     triage=Triage(("insult",), "medium", "review", ()), language="fr",
                     sentiment="negative", compound=-0.5, platform="twitter", author="@a",
                     text="t'es nul", url=None, created_at=queued_at - 60, queued_at=queued_at)
    assert made is not None
    return made


def mention(mention_id: str, text: str, age: timedelta = timedelta(seconds=30)) -> tuple[bytes, bytes]:
    """A raw mention keyed by its id, posted `age` ago."""
    m = {"id": mention_id, "source": "test", "platform": "twitter", "author": f"@{mention_id}",
         "text": text, "url": f"https://example.org/{mention_id}",
         "created_at": (datetime.now(UTC) - age).isoformat()}
    return mention_id.encode(), json.dumps(m, ensure_ascii=False).encode()


def decision(case_id: str, decision: str, moderator: str = "carol", **extra: Any) -> tuple[bytes, bytes]:
    """A moderation.decisions record as a moderation tool would write it."""
    record = {"case_id": case_id, "decision": decision, "moderator": moderator,
              "decided_at": datetime.now(UTC).isoformat(timespec="milliseconds"), **extra}
    return case_id.encode(), json.dumps(record).encode()


Samples = Scrape


def samples(url: str) -> Samples:
    """The whole /metrics page at `url`."""
    return scrape_page(url)


def by_label(scraped: Samples, name: str, *labels: str,
             default: Any = MISSING) -> dict[tuple[str, ...], float]:
    """Non-zero samples of one metric, keyed by the values of `labels`.

    A metric absent from the scrape (not merely without a non-zero sample) is an AssertionError
    naming it, unless `default` is given: then it is returned instead."""
    if name not in scraped.exported:
        if default is not MISSING:
            return default
        raise AssertionError(f"{name} is not in the scrape")
    out = {}
    for (n, lbls), v in scraped.items():
        if n == name and v:
            d = dict(lbls)
            out[tuple(d[k] for k in labels)] = v
    return out


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until check() returns something truthy; its last value in the failure message."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached in {timeout} s; last: {last!r}")


def wait_metrics(url: str, check: Callable[[Samples], bool], timeout: float = 20.0,
                 what: str = "metrics") -> Samples:
    """Scrape until check(samples) holds; the samples that passed."""
    def scrape() -> Any:
        got = samples(url)
        return got if check(got) else None

    result: Samples = wait_for(scrape, timeout, what)
    return result


class ServedApi:
    """The moderation API on its own asyncio loop in a background thread, on a free port."""

    def __init__(self, settings: Settings, token: str | None = None, store: Any = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.api = ModerationApi(settings.with_(moderation_api_port=0,
                                                moderation_api_token=token or ""), store=store)
        asyncio.run_coroutine_threadsafe(self.api.start(), self.loop).result(30)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.api.url, timeout=30, headers=headers)

    def close(self) -> None:
        self.client.close()
        asyncio.run_coroutine_threadsafe(self.api.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def serve_as_the_cli(monkeypatch: Any, settings: Settings, token: str) -> ServedApi:
    """The moderation API on `settings`, and this process's environment made `settings`' own
    (every other VEILLE_ variable unset, the API's token set): the CLI run in this process, with
    or without --api, reads the same topics as the API it asks."""
    import os

    from tests.conftest import settings_env

    for name in [k for k in os.environ if k.startswith("VEILLE_")]:
        monkeypatch.delenv(name)
    for name, value in settings_env(settings).items():
        if name.startswith("VEILLE_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("VEILLE_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("VEILLE_MODERATION_API_TOKEN", token)
    return ServedApi(settings, token=token)
