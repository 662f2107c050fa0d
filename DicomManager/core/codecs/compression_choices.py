"""The compressions a SEG can be written with, by the names users choose them by, and their transfer syntax UIDs.

Only the standard library is imported here, so that the command line's
parser and Slicer's modules can list the choices at startup without loading
pydicom (and numpy, which pydicom imports). What needs pydicom, the codecs
behind each syntax and whether they are installed, is in :mod:`.compression`.

The default is RLE Lossless: every reader we test opens it, dcmqi 1.5.7
(what Slicer's core SEG plugin runs) included, which cannot decompress JPEG-LS
or JPEG 2000 SEGs. JPEG-LS and deflate are the opt-ins for the smallest files.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from ...errors import CodecUnavailableError

if TYPE_CHECKING:
    from pydicom.uid import UID


class Compression(StrEnum):
    """How the pixel data (or the whole dataset) of a SEG is compressed.

    The values are the names the command line and the module panel use.
    """

    NONE = "none"
    RLE = "rle"
    JPEGLS = "jpegls"
    JPEG2000 = "jpeg2000"
    DEFLATE = "deflate"
    DEFLATE_FRAMES = "deflate-frames"

    @property
    def transfer_syntax_uid(self) -> UID:
        """The transfer syntax of files written with this compression, as a pydicom ``UID`` (pydicom imported then)."""
        from pydicom.uid import UID

        return UID(TRANSFER_SYNTAX_UIDS[self])

    @property
    def encodes_pixels(self) -> bool:
        """Whether highdicom encodes the frames one by one with a pydicom pixel codec."""
        return self in (Compression.RLE, Compression.JPEGLS, Compression.JPEG2000)

    @property
    def frame_transfer_syntax_uid(self) -> UID:
        """The transfer syntax highdicom encodes the frames in: the codec's, else native.

        Deflate is applied to the whole dataset when it is saved (see :mod:`.deflated_file`).
        """
        return self.transfer_syntax_uid if self.encodes_pixels else Compression.NONE.transfer_syntax_uid


DEFAULT_COMPRESSION = Compression.RLE

TRANSFER_SYNTAX_UIDS: dict[Compression, str] = {
    Compression.NONE: "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    Compression.RLE: "1.2.840.10008.1.2.5",  # RLE Lossless
    Compression.JPEGLS: "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    Compression.JPEG2000: "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
    Compression.DEFLATE: "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    Compression.DEFLATE_FRAMES: "1.2.840.10008.1.2.8.1",  # Deflated Image Frame Compression (Supplement 244)
}
"""The transfer syntax UID of each compression, as plain strings."""


def parse_compression(value: str | Compression) -> Compression:
    """Return the :class:`Compression` named by ``value`` or raise an error listing the choices."""
    try:
        return Compression(value)
    except ValueError:
        choices = ", ".join(member.value for member in Compression)
        raise CodecUnavailableError(
            f"Unknown compression {value!r}: choose one of {choices}."
        ) from None
