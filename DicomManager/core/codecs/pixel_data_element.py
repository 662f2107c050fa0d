"""Native Pixel Data as an element in Explicit VR Little Endian: its tag, its VR and its 12-byte header.

The deflated writer encodes this header itself, to stream the value after it,
and the deflated reader parses it, to inflate the value in place; both take
the layout from here. Nothing but the standard library is imported: the
DICOM browser reads SEG headers through this module's users.
"""

from __future__ import annotations

import struct

PIXEL_DATA_TAG = 0x7FE00010
BYTE_BITS = 8
LONG_HEADER = struct.Struct("<HH2sHI")
"""An Explicit VR element header with a 4-byte length: group, element, VR, reserved, length (PS3.5 7.1.2)."""


def native_pixel_data_vr(bits_allocated: int) -> str:
    """The VR of native Pixel Data in Explicit VR: OW for words, OB for bytes (PS3.5 8.2)."""
    return "OW" if bits_allocated > BYTE_BITS else "OB"


def pixel_data_header(vr: str, length: int) -> bytes:
    """The header of a native Pixel Data element of ``length`` bytes."""
    return LONG_HEADER.pack(PIXEL_DATA_TAG >> 16, PIXEL_DATA_TAG & 0xFFFF, vr.encode(), 0, length)
