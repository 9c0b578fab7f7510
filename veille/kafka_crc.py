"""kafka-python's CRC-32C in C: aiokafka's (a faust-streaming dependency), the same checksum.

kafka-python checks the CRC-32C of every record batch it fetches, and computes it for every batch
it produces, in pure Python unless the `crc32c` package is installed: about 3 MB/s here, 60 % of
the time of a moderator tool reading the moderation topics from their start (7.5 of 13 s for
60,000 records in a profile). aiokafka ships the same function compiled (crc32c_cython); `install`
makes kafka-python use it, checked first against the standard check value and kafka-python's own
function. The checks stay: a corrupt batch is still refused (CorruptRecordError)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: CRC-32C of b"123456789" (the Castagnoli polynomial's check value).
CHECK_VALUE = 0xE3069283

_installed: Callable[[Any], int] | None = None


def compiled() -> Callable[[Any], int] | None:
    """aiokafka's compiled CRC-32C, if it is importable and gives kafka-python's checksums."""
    try:
        from aiokafka.record._crecords.cutil import crc32c_cython
        from kafka.record._crc32c import crc as crc_py
    except ImportError:
        return None
    sample = bytes(range(256)) * 3
    try:
        same = (crc32c_cython(b"123456789") == CHECK_VALUE
                and all(crc32c_cython(memoryview(sample)[i:]) == crc_py(sample[i:])
                        for i in (0, 1, 7, 255)))
    except Exception:  # an aiokafka whose function takes other arguments
        return None
    return crc32c_cython if same else None


def install() -> bool:
    """Make kafka-python's record batches use the compiled CRC-32C (idempotent); whether it
    does (False: aiokafka's is missing or differs, kafka-python's own is kept)."""
    global _installed
    if _installed is not None:
        return True
    import kafka.record.default_records as records

    if not hasattr(records, "calc_crc32c"):  # another kafka-python: left as it is
        return False
    fast = compiled()
    if fast is None:
        return False
    records.calc_crc32c = fast
    _installed = fast
    return True
