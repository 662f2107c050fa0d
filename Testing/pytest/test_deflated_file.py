"""Deflating in pieces on several cores gives one valid stream, as small as deflating serially."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from DicomManager.core.codecs.deflated_file import DEFLATE_LEVEL, MEMORY_LEVEL, PIECE_BYTES, deflate


def inflate(stream: bytes) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    data = inflater.decompress(stream) + inflater.flush()
    assert inflater.eof, "the stream does not end with a final block"
    assert inflater.unused_data == b""
    return data


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
