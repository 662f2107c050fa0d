"""How many entries a segmented palette colour lookup table expands to, counted without expanding it (PS3.3 C.7.9.2).

A segmented table is a list of segments: discrete (its entries), linear (a
count of entries rising to one value) and indirect (a copy of other segments
at an offset). A table of a few kilobytes can so describe billions of
entries, or an indirect segment that copies itself, and pydicom's
``apply_color_lut`` expands whatever it is given. The count here walks the
segments as pydicom expands them (16-bit words, or bytes for 8-bit entries;
offsets of indirect segments in those units), so that a table is expanded only
when it holds no more entries than its descriptor declares: at most 65536.
"""

from __future__ import annotations

import numpy as np

DISCRETE, LINEAR, INDIRECT = 0, 1, 2
"""Segment types (PS3.3 C.7.9.2.1-3)."""
BYTE_BITS = 8


class MalformedTableError(ValueError):
    """A segmented table that cannot be expanded, or expands to more entries than allowed; the message says why."""


def segmented_entries(data: bytes, bits: int, most: int, little_endian: bool = True) -> int:
    """The number of entries the segmented table ``data`` of ``bits``-bit entries expands to.

    Raises :class:`MalformedTableError` where it would expand to more than
    ``most``, where a segment is of no known type, adds no entry, is linear or
    indirect at the start, or where an indirect segment copies another
    indirect one: each segment walked adds an entry at least, so the walk
    itself is bounded by ``most``.
    """
    width = bits // BYTE_BITS
    dtype = np.dtype(np.uint8) if width == 1 else np.dtype("<u2" if little_endian else ">u2")
    table = _Table(np.frombuffer(data, dtype=dtype, count=len(data) // width).tolist(), width == 1, little_endian, most)
    return table.entries(0, None, most, in_indirect=False)


class _Table:
    """A segmented table's values, and how its indirect segments give their offsets."""

    def __init__(self, values: list[int], eight_bit: bool, little_endian: bool, most: int) -> None:
        self.values = values
        self.most = most
        self.eight_bit = eight_bit
        self.offset_values = 4 if eight_bit else 2
        """An indirect segment's offset takes 4 bytes, or 2 words."""
        self.little_endian = little_endian

    def entries(self, start: int, segments: int | None, most: int, *, in_indirect: bool) -> int:
        """Entries of the segments from ``start`` (``segments`` of them, or to the end), refused beyond ``most``."""
        values = self.values
        entries, offset, walked = 0, start, 0
        while offset + 1 < len(values) and walked != segments:
            kind, length = values[offset], values[offset + 1]
            offset += 2
            if kind == DISCRETE:
                added = min(length, max(len(values) - offset, 0))
                offset += length
            elif kind == LINEAR:
                if not entries and not in_indirect:
                    raise MalformedTableError("its first segment is linear, with no value to start from")
                added = length
                offset += 1
            elif kind == INDIRECT:
                if in_indirect:
                    raise MalformedTableError("an indirect segment copies another indirect segment")
                if not entries:
                    raise MalformedTableError("its first segment is indirect, with nothing before it to copy")
                if offset + self.offset_values > len(values):
                    raise MalformedTableError("an indirect segment is cut short")
                target = self._offset(values[offset:offset + self.offset_values])
                offset += self.offset_values
                added = self.entries(target, length, most - entries, in_indirect=True) if length else 0
            else:
                raise MalformedTableError(f"a segment is of type {kind}, not 0, 1 or 2")
            if not added:
                raise MalformedTableError(f"a segment of type {kind} adds no entry")
            entries += added
            walked += 1
            if entries > most:
                raise MalformedTableError(f"it expands to more than the {self.most} entries its descriptor declares")
        return entries

    def _offset(self, parts: list[int]) -> int:
        """An indirect segment's offset as pydicom reads it: two words, low first, or four bytes in the file's order."""
        if not self.eight_bit:
            return parts[1] << 16 | parts[0]
        first, second, third, fourth = parts
        if self.little_endian:
            return (fourth << 8 | third) << 16 | (second << 8 | first)
        return (third << 8 | fourth) << 16 | (first << 8 | second)
