"""A service reading veille's `mentions.enriched`: one line per negative mention of a watched
brand, each mention once, with nothing but kafka-python and the documented contract.

    python examples/consume_enriched.py --bootstrap 127.0.0.1:9092 --group my-service

(On a cluster with TLS or SASL, give KafkaConsumer kafka-python's security options in `run`:
security_protocol, ssl_context, sasl_mechanism, sasl_plain_username, sasl_plain_password.)

What every consumer of the topic should do, and this one does:
  * route on `schema_version`: a version it was not written for is skipped and said, never
    guessed at (a breaking change comes with a new version);
  * ignore the fields it does not know (fields are added within a version);
  * keep one record per mention `id`: veille de-duplicates within a bounded window only, so a
    mention collected again later, or a rare resend, comes again with the same id;
  * commit its offsets after it has handled the records (at least once: after a crash it
    reads the last ones again, which the id check absorbs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

#: The record versions this consumer was written for.
SUPPORTED_VERSIONS = frozenset({1})


class RecentIds:
    """The ids seen lately, at most `size` of them (the oldest forgotten first)."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, mention_id: str) -> bool:
        if mention_id in self._ids:
            self._ids.move_to_end(mention_id)
            return False
        self._ids[mention_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


def handle(value: bytes, seen: RecentIds, warn: Callable[[str], None]) -> str | None:
    """The line to print for one record of mentions.enriched, or None."""
    try:
        record = json.loads(value)
    except ValueError:
        warn("skipped a record that is not JSON")
        return None
    if not isinstance(record, dict) or record.get("schema_version") not in SUPPORTED_VERSIONS:
        version = record.get("schema_version") if isinstance(record, dict) else None
        warn(f"skipped a record of schema_version {version!r} (this consumer reads "
             f"{sorted(SUPPORTED_VERSIONS)})")
        return None
    if not seen.first_time(record["id"]):
        return None  # the same mention again
    sentiment = record["sentiment"]  # null: a language veille does not score
    if not record["brands"] or sentiment is None or sentiment["label"] != "negative":
        return None
    followers = (record["audience"] or {}).get("followers", 0)
    return (f"{record['created_at']} {','.join(record['brands'])} {sentiment['compound']:+.2f} "
            f"{shown(record['platform'])} followers={followers} {shown(record['id'])}: "
            f"{shown(' '.join(record['text'].split())[:100])}")


def shown(text: str) -> str:
    """`text` safe to print on a terminal: control and format characters (an escape sequence
    that retitles or clears the terminal, a right-to-left override that reverses what follows)
    as \\uXXXX. Everything in a mention comes from the wild."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def run(bootstrap: list[str], topic: str, group: str | None, idle_exit: float | None,
        out: Any = sys.stdout) -> int:
    """Print the lines of the topic's records until stopped, or until `idle_exit` seconds went
    by without a record; the count printed."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    seen = RecentIds()
    printed = 0
    last = time.monotonic()

    def warn(message: str) -> None:
        print(f"consume_enriched: {message}", file=sys.stderr)

    try:
        while idle_exit is None or time.monotonic() - last < idle_exit:
            batches = consumer.poll(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    line = handle(record.value, seen, warn)
                    if line is not None:
                        print(line, file=out, flush=True)
                        printed += 1
            if batches:
                last = time.monotonic()
                if group is not None:
                    consumer.commit()  # after handling: at least once
        return printed
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092",
                        help="Kafka bootstrap servers, comma-separated (default 127.0.0.1:9092)")
    parser.add_argument("--topic", default="mentions.enriched",
                        help="the topic, with veille's VEILLE_TOPIC_PREFIX if it has one")
    parser.add_argument("--group", help="consumer group (offsets committed); none: read all, commit nothing")
    parser.add_argument("--idle-exit", type=float, help="stop after this many seconds without a record")
    args = parser.parse_args(argv)
    run(args.bootstrap.split(","), args.topic, args.group, args.idle_exit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
