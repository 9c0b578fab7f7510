"""The report's PNG chart: a valid PNG, written with zlib and struct, with its bars where expected."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime

from veille.moderation.chart import PROCESSED, RECEIVED, WHITE, Canvas, _step, hourly_chart

T0 = int(datetime(2026, 1, 5, 0, 0, tzinfo=UTC).timestamp())


def decode(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB PNG without filters (what Canvas writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks[kind] = data
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows = [raw[y * stride + 1:(y + 1) * stride] for y in range(height)]
    assert all(raw[y * stride] == 0 for y in range(height))
    return width, height, rows


def pixel(rows: list[bytes], x: int, y: int) -> tuple[int, ...]:
    return tuple(rows[y][3 * x:3 * x + 3])


def test_chart_is_a_valid_png_with_one_pair_of_bars_per_hour() -> None:
    hours = [(T0 + 3600 * h, 10 if h == 5 else 0, 4 if h == 5 else 0) for h in range(24)]
    width, height, rows = decode(hourly_chart(hours, bar=4, height=200))
    assert width == 56 + 16 + 24 * 10 and height == 200
    x = 56 + 5 * 10  # hour 5's group: received then processed
    base = 200 - 30 - 1
    assert pixel(rows, x + 2, base) == RECEIVED and pixel(rows, x + 6, base) == PROCESSED
    # The received bar reaches the top of the scale (10); processed stops at 4/10 of it.
    assert pixel(rows, x + 2, 34 + 1) == RECEIVED
    assert pixel(rows, x + 6, 34 + 1) != PROCESSED
    assert pixel(rows, 56 + 9 * 10 + 2, base) == WHITE  # an empty hour


def test_empty_period_and_round_steps() -> None:
    width, height, _ = decode(hourly_chart([]))
    assert width > 0 and height > 0
    assert [_step(n) for n in (1, 5, 6, 11, 26, 99, 1234)] == [1, 1, 2, 5, 10, 20, 500]
    canvas = Canvas(3, 2)
    canvas.rect(-5, -5, 50, 1, RECEIVED)  # clipped
    _, _, rows = decode(canvas.png())
    assert pixel(rows, 2, 0) == RECEIVED and pixel(rows, 2, 1) == WHITE
