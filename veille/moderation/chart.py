"""A small PNG bar chart of hourly received vs processed items, in pure Python (zlib + struct)."""

# No plotting library: the report needs one chart, and matplotlib would add ~40 MB to every
# install for it. Bars, a grid, day separators and a legend; digits in a 3x5 pixel font.

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
INK: Color = (60, 60, 60)
GRID: Color = (225, 225, 225)
DAY: Color = (170, 170, 170)
RECEIVED: Color = (66, 133, 244)
PROCESSED: Color = (244, 160, 0)

# 3x5 digits, one string of 15 bits (rows top to bottom) per character.
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001010010010", "8": "111101111101111",
    "9": "111101111001111", "-": "000000111000000", ":": "000010000010000",
    "R": "110101110101101", "P": "110101110100100", "T": "111010010010010",
}


class Canvas:
    """An RGB image in memory, origin at the top left."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill [x0, x1) x [y0, y1), clipped to the image."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def text(self, x: int, y: int, text: str, color: Color = INK, scale: int = 2) -> None:
        for i, ch in enumerate(text):
            bits = _GLYPHS.get(ch)
            if bits is None:
                continue
            for n, bit in enumerate(bits):
                if bit == "1":
                    cx = x + (i * 4 + n % 3) * scale
                    cy = y + (n // 3) * scale
                    self.rect(cx, cy, cx + scale, cy + scale, color)

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride:(y + 1) * stride])
                       for y in range(self.height))
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 4 * scale - scale


def _step(top: int) -> int:
    """The smallest round grid step (1, 2, 5, 10, 20, 50...) giving at most 5 lines up to `top`."""
    magnitude = 1
    while True:
        for m in (1, 2, 5):
            if top <= 5 * m * magnitude:
                return m * magnitude
        magnitude *= 10


def hourly_chart(hours: Sequence[tuple[int, int, int]], tz: tzinfo = UTC, bar: int = 4,
                 height: int = 260, legend: tuple[str, str] = ("R", "P")) -> bytes:
    """PNG of (hour start, received, processed) rows: a pair of bars per hour (received in blue,
    processed in orange), a grid with its values, a grey line at each local midnight and the
    local hour under every sixth hour. `legend`: the letters of the two colours (R, P; R, T in
    French: reçus, traités)."""
    left, right, top, bottom = 56, 16, 34, 30
    group = 2 * bar + 2
    width = left + right + max(1, len(hours)) * group
    canvas = Canvas(width, height)
    plot_h = height - top - bottom
    peak = max((max(r, p) for _, r, p in hours), default=0)
    step = _step(max(peak, 1))
    scale_top = step * max(1, -(-max(peak, 1) // step))
    base = top + plot_h

    def y_of(v: float) -> int:
        return base - round(v / scale_top * plot_h)

    for v in range(0, scale_top + 1, step):
        y = y_of(v)
        canvas.rect(left, y, width - right, y + 1, GRID)
        label = str(v)
        canvas.text(left - 6 - text_width(label), y - 5, label)
    for i, (start, received, processed) in enumerate(hours):
        x = left + i * group
        local = datetime.fromtimestamp(start, tz)
        if local.hour == 0 and i:
            canvas.rect(x - 1, top, x, base, DAY)
        if local.hour % 6 == 0:
            label = f"{local.hour:02d}"
            canvas.rect(x, base, x + 1, base + 4, INK)
            canvas.text(x - text_width(label) // 2, base + 8, label)
        canvas.rect(x + 1, y_of(received), x + 1 + bar, base, RECEIVED)
        canvas.rect(x + 1 + bar, y_of(processed), x + 1 + 2 * bar, base, PROCESSED)
    canvas.rect(left, base, width - right, base + 1, INK)
    canvas.rect(left, top, left + 1, base, INK)
    # Legend: R received, P processed.
    canvas.rect(left, 10, left + 12, 22, RECEIVED)
    canvas.text(left + 16, 11, legend[0])
    canvas.rect(left + 36, 10, left + 48, 22, PROCESSED)
    canvas.text(left + 52, 11, legend[1])
    return canvas.png()
