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

import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from pydicom import Dataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info

from ..cores import available_cores
from .native_frames import NativeFrames
from .pixel_data_element import PIXEL_DATA_TAG, native_pixel_data_vr, pixel_data_header

DEFLATE_LEVEL = 8
"""zlib level of deflated SEGs."""
MEMORY_LEVEL = 6
"""zlib memory level of deflated SEGs: sets how many symbols a block holds (see the module docstring)."""
PIECE_BYTES = 8 * 2**20
"""Smallest piece deflated on a core of its own: below it a thread costs more than it saves."""
_WINDOW_BYTES = 2**zlib.MAX_WBITS


def save_deflated(dataset: Dataset, path: Path) -> None:
    """Write ``dataset`` (with its ``file_meta``) to ``path`` as a deflated DICOM file.

    The Pixel Data is deflated from the dataset's own bytes, or frames
    (:class:`.native_frames.NativeFrames`), piece by piece: neither the
    encoded dataset nor its deflated form is ever held whole. Frames that
    were deflated while the dataset was built (``NativeFrames.deflated``, see
    :mod:`.deflating_ahead`) are written as they are, between the elements
    before and after them, each deflated from no dictionary.
    """
    before, pixel_data, after = _split_at_pixel_data(dataset)
    value = dataset.get("PixelData")
    deflated_pixel_data = value.deflated if isinstance(value, NativeFrames) else None
    with open(path, "wb") as stream:
        _write_preamble_and_meta(stream, dataset.file_meta)
        if deflated_pixel_data is None:
            written = deflate_stream([before, *pixel_data, after], stream)
        else:
            written = deflate_stream([before], stream, finish=False)
            written += stream.write(deflated_pixel_data)
            written += deflate_stream([after], stream)
        if written % 2:
            stream.write(b"\x00")


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
        _write_preamble_and_meta(stream, file_meta)
        stream.write(body)
        if len(body) % 2:
            stream.write(b"\x00")


def _write_preamble_and_meta(stream: BinaryIO, file_meta: Dataset) -> None:
    file = DicomFileLike(stream)
    file.is_implicit_VR, file.is_little_endian = False, True
    file.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(file, file_meta, enforce_standard=True)


def deflate_stream(
    parts: Sequence[bytes | memoryview],
    output: BinaryIO,
    piece_bytes: int = PIECE_BYTES,
    *,
    workers: int | None = None,
    finish: bool = True,
) -> int:
    """Deflate the concatenation of ``parts`` into ``output`` as one raw stream; return the bytes written.

    The data is cut into pieces of ``piece_bytes`` (the parts are not joined;
    a piece that spans parts is copied together only when it is deflated),
    deflated on ``workers`` threads (by default one per core) and written in
    order, with at most two pieces per thread in flight.

    zlib lets go of the GIL while it compresses, so threads run on separate
    cores. Each piece starts from the 32 KiB before it as its dictionary (all
    that deflate can look back at) and all but the last end on a sync flush,
    which closes the piece's blocks on a byte boundary without marking the
    stream's end. The pieces joined are then one valid stream, within 0.1% of
    the size of deflating serially (as pigz does). With ``finish`` false the
    last piece ends on a sync flush too: the output is then the start or the
    middle of a stream, which more deflated data, started from no dictionary,
    may follow.
    """
    views = [memoryview(part).cast("B") for part in parts]
    total = sum(len(view) for view in views)
    workers = max(1, min(workers or available_cores(), -(-total // piece_bytes)))
    written = 0
    with ThreadPoolExecutor(workers) as pool:
        in_flight: deque = deque()
        for dictionary, piece, last in _pieces(views, piece_bytes):
            in_flight.append(pool.submit(_deflate_piece, dictionary, piece, last and finish))
            if len(in_flight) >= 2 * workers:
                written += output.write(in_flight.popleft().result())
        while in_flight:
            written += output.write(in_flight.popleft().result())
    return written


def _pieces(parts: list[memoryview], piece_bytes: int) -> Iterator[tuple[bytes, memoryview | bytes, bool]]:
    """(dictionary, piece, last) for each piece of the parts' concatenation, made as they are asked for: at least one."""
    total = sum(len(part) for part in parts)
    window = b""
    pending: list[memoryview] = []
    pending_bytes = done = 0
    for part in parts:
        offset = 0
        while offset < len(part):
            take = min(piece_bytes - pending_bytes, len(part) - offset)
            pending.append(part[offset : offset + take])
            pending_bytes += take
            offset += take
            if pending_bytes == piece_bytes:
                piece = pending[0] if len(pending) == 1 else b"".join(pending)
                done += pending_bytes
                yield window, piece, done == total
                window = (window + bytes(piece[-_WINDOW_BYTES:]))[-_WINDOW_BYTES:]
                pending, pending_bytes = [], 0
    if pending or total == 0:
        yield window, b"".join(pending), True


def _deflate_piece(dictionary: bytes, piece: memoryview | bytes, last: bool) -> bytes:
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, MEMORY_LEVEL, zdict=dictionary)
    return compressor.compress(piece) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _split_at_pixel_data(dataset: Dataset) -> tuple[bytes, list[memoryview], bytes]:
    """The dataset encoded as Explicit VR Little Endian in three parts: up to Pixel Data's value, the value, after it.

    The middle part is views of the dataset's own Pixel Data (its frames, for
    :class:`.native_frames.NativeFrames`): encoded, it is a 12-byte element
    header and the bytes as they are (native pixel data, an even number of bytes).
    """
    before, after = Dataset(), Dataset()
    for element in dataset:
        if element.tag != PIXEL_DATA_TAG:
            (before if element.tag < PIXEL_DATA_TAG else after).add(element)
    value = dataset.PixelData if "PixelData" in dataset else b""
    pixel_data = list(value.pieces()) if isinstance(value, NativeFrames) else [memoryview(value)]
    head = encode_explicit_little_endian(before).getvalue()
    if "PixelData" in dataset:
        vr = native_pixel_data_vr(int(dataset.get("BitsAllocated", 8)))
        head += pixel_data_header(vr, sum(map(len, pixel_data)))
    return head, pixel_data, encode_explicit_little_endian(after).getvalue()
