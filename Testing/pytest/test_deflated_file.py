"""Deflating in pieces on several cores gives one valid stream, as small as deflating serially."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pydicom
import pytest
from conftest import shared_data
from pydicom.uid import DeflatedExplicitVRLittleEndian

from DicomManager.core.codecs.deflated_file import (
    DEFLATE_LEVEL,
    MEMORY_LEVEL,
    PIECE_BYTES,
    deflate_stream,
    encode_explicit_little_endian,
    save_deflated,
)


def inflate(stream: bytes) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    data = inflater.decompress(stream) + inflater.flush()
    assert inflater.eof, "the stream does not end with a final block"
    assert inflater.unused_data == b""
    return data


def deflate(data: bytes, pieces: int | None = None) -> bytes:
    """``data`` deflated by :func:`deflate_stream` in ``pieces`` pieces (by default, pieces of ``PIECE_BYTES``)."""
    output = io.BytesIO()
    written = deflate_stream([data], output, max(-(-len(data) // pieces), 1) if pieces else PIECE_BYTES)
    assert written == len(output.getvalue())
    return output.getvalue()


def repeating_slices(size: int) -> bytes:
    """A 16 KiB slice of a few label values repeated: later slices are cheap only by reference to earlier ones."""
    slice_ = np.random.default_rng(1).integers(0, 4, size=2**14, dtype=np.uint8)
    return np.resize(slice_, size).tobytes()


@pytest.mark.parametrize("pieces", [1, 2, 3, 8])
def test_pieces_join_into_one_stream_of_the_same_data(pieces):
    data = repeating_slices(3 * 2**20 + 12345)

    stream = deflate(data, pieces)

    assert inflate(stream) == data
    serial = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, MEMORY_LEVEL)
    # A piece costs its closing blocks and the matches lost at its start: tens of bytes.
    assert len(stream) <= len(serial.compress(data) + serial.flush()) + 64 * (pieces - 1)


def test_small_and_empty_data_are_deflated_whole():
    assert inflate(deflate(b"")) == b""
    assert inflate(deflate(b"", pieces=4)) == b""
    assert inflate(deflate(b"\x01" * 1000)) == b"\x01" * 1000
    assert inflate(deflate(b"\x01\x02" * PIECE_BYTES)) == b"\x01\x02" * PIECE_BYTES


def test_a_dataset_deflated_piece_by_piece_is_the_dataset_pydicom_encodes(tmp_path):
    """save_deflated streams Pixel Data from the dataset's own bytes; the file holds exactly what pydicom would encode."""
    dataset = pydicom.dcmread(shared_data("dcmqi/ct-3slice/01.dcm"))
    dataset.Rows, dataset.Columns, dataset.BitsAllocated = 1024, 6146, 16
    dataset.PixelData = repeating_slices(2 * 1024 * 6146)  # 12 MB: two pieces, the first ending inside Pixel Data
    dataset.BitsStored, dataset.HighBit = 16, 15
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"

    save_deflated(dataset, path)

    raw = path.read_bytes()
    meta_end = raw.index(b"DICM") + 4
    meta_length = int.from_bytes(raw[meta_end + 8 : meta_end + 12], "little")
    body = raw[meta_end + 12 + meta_length :]
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = inflater.decompress(body) + inflater.flush()
    assert inflater.eof and inflater.unused_data in (b"", b"\x00")
    assert inflated == encode_explicit_little_endian(dataset).getvalue()
    assert pydicom.dcmread(path).PixelData == dataset.PixelData
