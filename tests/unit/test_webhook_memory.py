"""The webhook collector's memory while the broker does not answer: requests waiting for their
acknowledgement hold their mentions, not their parsed bodies, and what waits is bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

CHILD = textwrap.dedent('''
    import asyncio, json, sys, time
    import aiohttp
    from prometheus_client import CollectorRegistry
    import veille.collectors.webhook as webhook
    from veille.collectors.base import BrokerUnavailable, MentionSink
    from veille.metrics import CollectorMetrics
    from veille.settings import Settings

    webhook.MAX_WAITING_BYTES = int(sys.argv[2])

    def rss() -> int:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
        raise AssertionError

    class Stalled(MentionSink):  # a broker that never acknowledges
        async def send(self, mentions, timeout=None, *, records=()):
            await asyncio.sleep(timeout or 10)
            raise BrokerUnavailable("stalled")
        def close(self):
            pass

    async def main(n: int) -> None:
        s = Settings.from_env({}).with_(webhook_port=0)
        metrics = CollectorMetrics(CollectorRegistry())
        c = webhook.WebhookCollector(s, metrics, Stalled(s, "webhook", metrics))
        c.ack_timeout = 4.0
        await c.start()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if sys.argv[3] == "padded":
            # One mention and 1 MiB of unknown fields (small JSON values: many objects once parsed).
            item = {"platform": "twitter", "text": "Acme is down", "created_at": now,
                    "extra": [{}] * ((2**20 - 200) // 3)}
        else:  # 5,000 small mentions (about 290 KB)
            item = [{"platform": "x", "text": f"Acme {i}", "created_at": now} for i in range(5000)]
        body = json.dumps(item, separators=(",", ":")).encode()
        base = peak = rss()
        # No client timeout (the subprocess has one): the server's parsing shares this loop, and
        # on a loaded machine aiohttp's default 30 s to connect ran out before it got its turn.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         timeout=aiohttp.ClientTimeout(total=None)) as http:
            async def one():
                async with http.post(c.url + "/mentions", data=body,
                                     headers={"Content-Type": "application/json"}) as r:
                    return r.status, (await r.json())["error"]
            tasks = [asyncio.ensure_future(one()) for _ in range(n)]
            while not all(t.done() for t in tasks):
                peak = max(peak, rss())
                await asyncio.sleep(0.02)
        answers = [t.result() for t in tasks]
        await c.stop()
        await c.close()
        print(json.dumps({"growth": peak - base, "answers": sorted(map(list, set(answers))),
                          "overloaded": sum(a[1] == "overloaded" for a in answers)}))

    asyncio.run(main(int(sys.argv[1])))
''')


def run(n: int, waiting_bytes: int, kind: str = "padded") -> dict:
    # The client shares the process: its bodies are one bytes object, and it parses nothing.
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(waiting_bytes), kind], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_requests_waiting_for_the_broker_hold_their_mentions_not_their_parsed_bodies() -> None:
    # 40 requests of 1 MiB waiting at once: each parsed body is about 25 MB of small objects,
    # so holding them took about 1 GB; now the 40 raw bodies and mentions, under 120 MB.
    got = run(40, 64 * 2**20)
    assert got["answers"] == [[503, "broker_unavailable"]], got
    assert got["growth"] < 120 * 2**20, f"{got['growth'] / 2**20:.0f} MB for 40 waiting requests"


def test_beyond_the_waiting_budget_a_request_is_refused_at_once() -> None:
    # A budget of 5 MiB: 4 requests of 1 MiB wait (a fifth's body would fit, not with its
    # mention's own bytes: MENTION_HELD_BYTES), the others get 503 overloaded.
    got = run(20, 5 * 2**20)
    assert got["answers"] == [[503, "broker_unavailable"], [503, "overloaded"]], got
    assert got["overloaded"] == 16, got


def test_the_waiting_budget_counts_what_small_mentions_hold() -> None:
    """Found in review (2026-12-05): the bodies' bytes alone were counted, and requests of 5,000
    small mentions (290 KB) held ten times the budget: 150 of them grew the collector by about
    350 MB with the budget at 64 MiB. Now the mentions' own bytes count too."""
    got = run(150, 64 * 2**20, "small")
    assert got["answers"] == [[503, "broker_unavailable"], [503, "overloaded"]], got
    assert got["growth"] < 200 * 2**20, f"{got['growth'] / 2**20:.0f} MB for a 64 MiB budget"
