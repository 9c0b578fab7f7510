"""Partitioning by key: veille's murmur2 is Kafka's default partitioner's, byte for byte."""

from __future__ import annotations

import random

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from streams.topics import brand_partition, key_partition, murmur2


def test_murmur2_is_kafka_pythons_on_every_length_and_byte() -> None:
    rng = random.Random(7)
    keys = [bytes(rng.randrange(256) for _ in range(n)) for n in range(0, 41) for _ in range(200)]
    keys += [b"", b"\x00", b"\xff" * 4, "marché-é".encode(), b"tw-1234567890123456789"]
    for key in keys:
        assert murmur2(key) == kafka_python_murmur2(key), key


def test_partitions_are_the_java_clients() -> None:
    # Values of org.apache.kafka.common.utils.Utils.murmur2 (the Java client's own tests:
    # "21" -> -973932308, "foobar" -> -790332482, "a-little-bit-long-string" -> -985981536).
    for key, java in ((b"21", -973932308), (b"foobar", -790332482),
                      (b"a-little-bit-long-string", -985981536)):
        assert murmur2(key) == java & 0xFFFFFFFF
        assert key_partition(key, 7) == (java & 0x7FFFFFFF) % 7
    assert brand_partition("acme", 4) == key_partition(b"acme", 4)


def test_topic_configs_replicas_and_retention() -> None:
    """min.insync.replicas makes acks=all mean a write survives a broker's loss (2 of 3, 1 of
    2; one replica keeps the broker's 1); the moderation topics outlive a pending case and the
    year the report covers; the dead letters stay long enough to be replayed once fixed."""
    from streams.topics import (
        MENTIONS_BY_BRAND,
        MENTIONS_DLQ,
        MENTIONS_ENRICHED,
        MENTIONS_RAW,
        MODERATION_QUEUE,
        REPUTATION_ALERTS,
        topic_configs,
    )
    from veille.settings import Settings

    one, two, three = (Settings(topic_replication=n) for n in (1, 2, 3))
    assert topic_configs(one, REPUTATION_ALERTS) == {}
    assert topic_configs(two, REPUTATION_ALERTS) == {"min.insync.replicas": "1"}
    assert topic_configs(three, REPUTATION_ALERTS) == {"min.insync.replicas": "2"}
    assert topic_configs(Settings(topic_replication=5), REPUTATION_ALERTS) == \
        {"min.insync.replicas": "2"}
    # The mentions' authors and texts (personal data): a week, not the broker's (for ever on a
    # cluster keeping records for ever).
    for topic in (MENTIONS_RAW, MENTIONS_ENRICHED, MENTIONS_BY_BRAND):
        assert topic_configs(one, topic) == {"retention.ms": str(7 * 86_400_000)}
    assert topic_configs(Settings(mentions_retention_days=0), MENTIONS_RAW) == {}
    assert topic_configs(one, MODERATION_QUEUE) == {
        "retention.ms": str(400 * 86_400_000), "cleanup.policy": "compact,delete",
        "segment.ms": str(86_400_000), "max.compaction.lag.ms": str(86_400_000)}
    assert topic_configs(three, MENTIONS_DLQ) == {"min.insync.replicas": "2",
                                                  "retention.ms": str(30 * 86_400_000)}
    kept = Settings(moderation_retention_days=0, dlq_retention_days=0)
    assert topic_configs(kept, MENTIONS_DLQ) == {}
    # Compacted whatever its retention: an erased case's item goes (veille erase). Within a
    # bounded time: by the dirty ratio alone (Kafka's 0.5, or 0.1), a day's segment of a queue
    # holding 400 days waits until 400 (or 44) more days are written before the cleaner takes it;
    # max.compaction.lag.ms makes a segment cleanable once its first record is a day old.
    assert topic_configs(kept, MODERATION_QUEUE) == {
        "cleanup.policy": "compact,delete", "segment.ms": str(86_400_000),
        "max.compaction.lag.ms": str(86_400_000)}


def test_the_tables_changelogs_are_compacted_hourly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Faust creates the changelogs compacted; on Apache Kafka's defaults the active segment
    (1 GiB, rolled weekly) is never compacted, and the spike agent writes a brand's open state
    with every batch: each of the four tables asks for hourly segments."""
    from agents.worker import build
    from veille.settings import Settings

    pipeline = build(Settings(data_dir=str(tmp_path), topic_replication=3))
    tables = {name: t for name, t in pipeline.app.tables.items()}
    assert sorted(tables) == ["moderation-cases", "moderation-held", "spikes-core", "spikes-open"]
    for name, table in tables.items():
        assert table.changelog_topic.config == {
            "segment.ms": "3600000", "min.cleanable.dirty.ratio": "0.1",
            "min.insync.replicas": "2"}, name


class _Admin:
    """A stand-in for kafka-python's KafkaAdminClient: every topic exists, with `replicas`
    replicas and the configs of `configs` (a broker's answer)."""

    def __init__(self, names: list[str], replicas: int, configs: dict[str, dict[str, str]]) -> None:
        self.names, self.replicas, self.configs = names, replicas, configs

    def list_topics(self) -> list[str]:
        return list(self.names)

    def create_topics(self, topics):  # type: ignore[no-untyped-def]
        raise AssertionError("every topic exists")

    def describe_topics(self, names):  # type: ignore[no-untyped-def]
        return [{"name": n, "partitions": [{"partition_index": p, "replica_nodes":
                                            list(range(self.replicas))} for p in range(4)]}
                for n in names]

    def describe_configs(self, resources, config_filter="modified"):  # type: ignore[no-untyped-def]
        return {"topic": {r.name: {k: {"name": k, "value": v}
                                   for k, v in self.configs.get(r.name, {}).items()}
                          for r in resources}}

    def close(self) -> None:
        pass


def _with_admin(monkeypatch, admin: _Admin) -> None:  # type: ignore[no-untyped-def]
    import kafka.admin

    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", lambda **kwargs: admin)


def test_existing_topics_configs_are_checked(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """Topics a platform team created beforehand keep their own configs: a changelog on
    cleanup.policy=delete lost the agents' state at its retention, a compacted mentions.by_brand
    refuses the keyless ticks, and fewer replicas or a shorter retention than the settings ask
    went unsaid (found in review, 2026-12-06)."""
    import logging

    import pytest

    from streams.topics import (
        AGENT_TABLES,
        TopicError,
        changelog_topic,
        ensure_topics,
        pipeline_topics,
    )
    from veille.settings import Settings

    settings = Settings(topic_replication=3, topic_prefix="p.", app_id="pveille")
    names = pipeline_topics(settings) + [changelog_topic(settings, t) for t in AGENT_TABLES]
    week = str(7 * 86_400_000)
    # As Faust creates the changelogs: compacted; the pipeline topics on the broker's defaults.
    sane = {n: {"cleanup.policy": "compact" if n.endswith("-changelog")
                else "compact,delete" if n == "p.moderation.queue" else "delete",
                "retention.ms": week, "min.insync.replicas": "2"} for n in names}
    _with_admin(monkeypatch, _Admin(names, 3, sane))
    caplog.set_level(logging.WARNING, logger="streams.topics")
    assert ensure_topics(settings) == []
    # The moderation topics and the DLQ on 7 days where 400 and 30 are asked: said.
    warned = caplog.text
    for name in ("p.moderation.queue", "p.moderation.decisions", "p.moderation.closed"):
        assert f"{name} keeps records 7 days" in warned and "VEILLE_MODERATION_RETENTION_DAYS" in warned
    assert "p.mentions.dlq keeps records 7 days" in warned and "VEILLE_DLQ_RETENTION_DAYS" in warned
    assert "p.mentions.raw keeps" not in warned  # the broker's retention is the one asked
    caplog.clear()
    # Kept for ever: nothing lost early, but personal data kept longer than its setting asks:
    # said for each topic veille sets a retention on (reputation.alerts keeps the broker's).
    forever = {n: {**c, "retention.ms": "-1"} for n, c in sane.items()}
    _with_admin(monkeypatch, _Admin(names, 3, forever))
    assert ensure_topics(settings) == []
    said = {r.getMessage().split()[0]: r.getMessage() for r in caplog.records}
    assert all("keeps records for ever" in m and "personal data" in m for m in said.values()), said
    assert set(said) == {"p.mentions.raw", "p.mentions.enriched", "p.mentions.by_brand",
                         "p.mentions.dlq", "p.moderation.queue", "p.moderation.decisions",
                         "p.moderation.closed"}
    assert "VEILLE_MENTIONS_RETENTION_DAYS asks 7 days" in said["p.mentions.raw"]
    assert "VEILLE_DLQ_RETENTION_DAYS asks 30 days" in said["p.mentions.dlq"]
    assert "VEILLE_MODERATION_RETENTION_DAYS asks 400 days" in said["p.moderation.closed"]
    caplog.clear()
    # Each as asked: nothing said.
    long = {n: {**c, "retention.ms": str(400 * 86_400_000) if ".moderation." in n
                else str(30 * 86_400_000) if n == "p.mentions.dlq" else c["retention.ms"]}
            for n, c in sane.items()}
    _with_admin(monkeypatch, _Admin(names, 3, long))
    assert ensure_topics(settings) == [] and caplog.text == ""
    # VEILLE_MODERATION_RETENTION_DAYS lowered to 30 on the 400-day topics: said (it was not).
    ensure_topics(Settings(topic_replication=3, topic_prefix="p.", app_id="pveille",
                           moderation_retention_days=30))
    assert "p.moderation.queue keeps records 400 days" in caplog.text
    caplog.clear()

    # One replica where three are asked, min.insync.replicas 1: warnings.
    _with_admin(monkeypatch, _Admin(names, 1, {n: {**c, "min.insync.replicas": "1"}
                                               for n, c in long.items()}))
    ensure_topics(settings)
    assert "p.mentions.raw has 1 replica(s) but VEILLE_TOPIC_REPLICATION is 3" in caplog.text
    assert "p.mentions.raw has min.insync.replicas=1" in caplog.text
    caplog.clear()

    # A changelog that deletes: an error naming it and the fix.
    changelog = changelog_topic(settings, "moderation-cases")
    deleting = {**long, changelog: {"cleanup.policy": "delete", "retention.ms": week}}
    _with_admin(monkeypatch, _Admin(names, 3, deleting))
    with pytest.raises(TopicError, match=f"{changelog} has cleanup.policy=delete.*compact"):
        ensure_topics(settings)
    # Kept for ever: nothing is lost, no error.
    _with_admin(monkeypatch, _Admin(names, 3, {**long, changelog: {"cleanup.policy": "delete",
                                                                   "retention.ms": "-1"}}))
    ensure_topics(settings)

    # A compacted mentions.by_brand: an error; another compacted pipeline topic: a warning.
    _with_admin(monkeypatch, _Admin(names, 3, {**long, "p.mentions.by_brand": {
        "cleanup.policy": "compact"}}))
    with pytest.raises(TopicError, match="p.mentions.by_brand has cleanup.policy=compact"):
        ensure_topics(settings)
    _with_admin(monkeypatch, _Admin(names, 3, {**long, "p.moderation.decisions": {
        "cleanup.policy": "compact,delete", "retention.ms": "-1"}}))
    ensure_topics(settings)
    assert "p.moderation.decisions has cleanup.policy=compact,delete" in caplog.text
    caplog.clear()
    # moderation.queue not compacted (created before 2026-12-06): erased cases keep their
    # author and text on the broker until the retention; said, with the fix.
    _with_admin(monkeypatch, _Admin(names, 3, {**long, "p.moderation.queue": {
        "cleanup.policy": "delete", "retention.ms": "-1"}}))
    ensure_topics(settings)
    assert "p.moderation.queue has cleanup.policy=delete" in caplog.text
    assert "veille erase" in caplog.text and "cleanup.policy=[compact,delete]" in caplog.text
    assert "max.compaction.lag.ms=86400000" in caplog.text

    # A broker that keeps no configs (the embedded one), or configs veille may not read: as before.
    _with_admin(monkeypatch, _Admin(names, 3, {}))
    caplog.clear()
    assert ensure_topics(settings) == [] and caplog.text == ""


class _Refusing(_Admin):
    """No topic exists, and the broker refuses to create one with `code` and `message`."""

    def __init__(self, code: int, message: str | None) -> None:
        super().__init__([], 3, {})
        self.code, self.message = code, message

    def create_topics(self, topics, raise_errors=True):  # type: ignore[no-untyped-def]
        from kafka.errors import for_code

        result = {"topics": [{"name": t.name, "error_code": self.code,
                              "error_message": self.message} for t in topics]}
        if raise_errors:  # kafka-python: the request's and response's whole repr
            raise for_code(self.code)(f"Request 'CreateTopicsRequest(...)' failed with response "
                                      f"'{result}'.")
        return result


def test_a_refused_creation_names_the_topic_and_the_setting(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On a cluster with ACLs or a topic policy, a topic veille may not create (no Create ACL,
    more replicas than brokers, a policy refusing its configs) failed with kafka-python's
    "[Error 29] TopicAuthorizationFailedError: Request 'CreateTopicsRequest(...)' failed with
    response ..." (found in review, 2026-12-06): the topic, its layout and the fix are said."""
    import pytest

    from streams.topics import TopicError, ensure_topics
    from veille.settings import Settings

    settings = Settings(topic_replication=3, topic_prefix="p.")
    _with_admin(monkeypatch, _Refusing(29, "Authorization failed."))
    with pytest.raises(TopicError) as refused:
        ensure_topics(settings)
    text = str(refused.value)
    assert text.startswith("cannot create p.mentions.raw (4 partitions, 3 replicas): ")
    assert "TopicAuthorizationFailedError" in text and "Authorization failed." in text
    assert "Create ACL" in text and "Request" not in text
    _with_admin(monkeypatch, _Refusing(38, "Replication factor: 3 larger than available brokers: 1."))
    with pytest.raises(TopicError, match="larger than available brokers: 1.*VEILLE_TOPIC_REPLICATION"):
        ensure_topics(settings)
    _with_admin(monkeypatch, _Refusing(44, "Topic replication factor must be 4"))
    with pytest.raises(TopicError, match="PolicyViolationError: Topic replication factor must be 4"):
        ensure_topics(settings)
    # Already there (created meanwhile by another worker): not an error.
    _with_admin(monkeypatch, _Refusing(36, "Topic with this name already exists."))
    assert ensure_topics(settings.with_(topic_replication=1)) == []
