"""Writing a dataset in Deflated Explicit VR Little Endian (PS3.5 A.5), at a chosen level, on all cores.

pydicom deflates at zlib's default level 6 and takes no other. On labelmaps
level 8 is much smaller, and level 9 hardly smaller but far slower. At memory
level 6 zlib ends a block every 4096 symbols rather than 32768 at memory
level 9: the code tables then follow the labelmap from empty rows to segment
edges, which is smaller and a little faster (benchmarks/README.md has the
figures). The file meta and the dataset are encoded by
pydicom exactly as ``save_as`` would; only the deflating is done here.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

from pydicom import Dataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info

DEFLATE_LEVEL = 8
"""zlib level of deflated SEGs."""
MEMORY_LEVEL = 6
"""zlib memory level of deflated SEGs: sets how many symbols a block holds (see the module docstring)."""
PIECE_BYTES = 8 * 2**20
"""Smallest piece deflated on a core of its own: below it a thread costs more than it saves."""
_WINDOW_BYTES = 2**zlib.MAX_WBITS


def save_deflated(dataset: Dataset, path: Path) -> None:
    """Write ``dataset`` (with its ``file_meta``) to ``path`` as a deflated DICOM file."""
    encoded = encode_explicit_little_endian(dataset)
    with encoded.getbuffer() as view:  # no copy of the encoded dataset
        write_part10(path, dataset.file_meta, deflate(view))


def encode_explicit_little_endian(dataset: Dataset) -> BytesIO:
    """The dataset's elements encoded in Explicit VR Little Endian, as ``save_as`` encodes them."""
    encoded = BytesIO()
    body = DicomFileLike(encoded)
    body.is_implicit_VR, body.is_little_endian = False, True
    write_dataset(body, dataset)
    return encoded


def write_part10(path: Path, file_meta: Dataset, body: bytes | memoryview) -> None:
    """A DICOM file: preamble, ``file_meta`` and ``body``, the dataset already encoded as its transfer syntax says.

    Also for transfer syntaxes the installed pydicom does not know, whose
    datasets ``save_as`` refuses to write.
    """
    with open(path, "wb") as stream:
        file = DicomFileLike(stream)
        file.is_implicit_VR, file.is_little_endian = False, True
        file.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(file, file_meta, enforce_standard=True)
        file.write(body)
        if len(body) % 2:
            file.write(b"\x00")


def deflate(data: bytes | memoryview, pieces: int | None = None) -> bytes:
    """``data`` as one raw deflate stream (no zlib header), compressed in ``pieces`` on as many threads.

    By default there is a piece per core, each of at least ``PIECE_BYTES``.

    zlib lets go of the GIL while it compresses, so threads run on separate
    cores. Each piece starts from the 32 KiB before it as its dictionary (all
    that deflate can look back at) and all but the last end on a sync flush,
    which closes the piece's blocks on a byte boundary without marking the
    stream's end. The pieces joined are then one valid stream, within 0.1% of
    the size of deflating serially (as pigz does).
    """
    view = memoryview(data)
    if pieces is None:
        pieces = min(os.cpu_count() or 1, len(data) // PIECE_BYTES)
    pieces = max(1, pieces)
    size = -(-len(data) // pieces)
    starts = range(0, len(data), size) if data else [0]

    def deflate_piece(start: int) -> bytes:
        dictionary = view[max(0, start - _WINDOW_BYTES) : start]
        compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, MEMORY_LEVEL, zdict=dictionary)
        last = start + size >= len(data)
        return compressor.compress(view[start : start + size]) + compressor.flush(
            zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
        )

    if pieces == 1:
        return deflate_piece(0)
    with ThreadPoolExecutor(pieces) as pool:
        return b"".join(pool.map(deflate_piece, starts))
