"""veille.kafka_crc: kafka-python's record batches checked with aiokafka's compiled CRC-32C."""

from __future__ import annotations

import os

from kafka.record._crc32c import crc as crc_py
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from veille import kafka_crc


def batch(n: int = 50) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for i in range(n):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=f"k{i}".encode(),
                       value=os.urandom(100), headers=[])
    return bytes(builder.build())


def test_compiled_crc_is_kafka_pythons() -> None:
    fast = kafka_crc.compiled()
    assert fast is not None  # aiokafka (faust-streaming's) ships it
    assert fast(b"123456789") == kafka_crc.CHECK_VALUE
    data = os.urandom(70_000)
    for view in (data, memoryview(data)[3:], memoryview(data)[:1], b""):
        assert fast(view) == crc_py(bytes(view))


def test_installed_batches_still_checked() -> None:
    """Once installed, a batch kafka-python built the pure-Python way validates, and a corrupt
    one is still refused."""
    import kafka.record.default_records as records

    before = records.calc_crc32c
    try:
        data = batch()  # built with kafka-python's own CRC (unless installed earlier)
        assert kafka_crc.install() and kafka_crc.install()  # idempotent
        assert records.calc_crc32c is kafka_crc.compiled()
        assert DefaultRecordBatch(data).validate_crc()
        assert DefaultRecordBatch(batch()).validate_crc()  # built with the compiled one
        corrupt = bytearray(data)
        corrupt[-10] ^= 0x01
        assert not DefaultRecordBatch(bytes(corrupt)).validate_crc()
    finally:
        records.calc_crc32c = before
        kafka_crc._installed = None



def test_the_collectors_producer_computes_its_batches_crc_in_c(settings) -> None:
    """make_producer (collectors, webhook, replay, erase, decisions): its batches' CRC-32C in C
    (kafka-python's pure-Python one was 60 % of a producer's CPU)."""
    import kafka.record.default_records as records

    from veille.collectors.producer import make_producer

    before = records.calc_crc32c
    records.calc_crc32c, kafka_crc._installed = crc_py, None
    try:
        producer = make_producer(settings)
        try:
            assert records.calc_crc32c is kafka_crc.compiled()
        finally:
            producer.close(timeout=5)
    finally:
        records.calc_crc32c = before
        kafka_crc._installed = None
