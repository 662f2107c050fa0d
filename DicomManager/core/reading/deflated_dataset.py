"""Reading a DICOM file whose dataset is deflated (PS3.5 A.5) with its Pixel Data inflated once, in place.

pydicom inflates a deflated dataset whole into one bytes object and then
copies the Pixel Data out of it: a SEG's frames twice over, besides the label
volume they are decoded into. Here the dataset is inflated as pydicom parses
it; the Pixel Data value is inflated straight into a bytearray of its own
(which pydicom's decoders and ``numpy.frombuffer`` read like bytes), and a
header-only read stops inflating where the Pixel Data starts. Files in any
other transfer syntax are read by ``pydicom.dcmread`` as they are. No read
allocates more than the file holds, or than its image accounts for.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom import Dataset, FileDataset
from pydicom.dataelem import DataElement
from pydicom.dataset import FileMetaDataset
from pydicom.filereader import read_dataset, read_preamble
from pydicom.tag import BaseTag, Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ...errors import cause
from ..codecs.pixel_data_element import LONG_HEADER, PIXEL_DATA_TAG

FILE_META_GROUP = 0x0002
UNDEFINED_LENGTH = 0xFFFFFFFF
INPUT_BYTES = 2**20
"""Deflated bytes read from the file at a time."""
OUTPUT_BYTES = 16 * 2**20
"""Most inflated bytes one step of the inflater yields: what a Pixel Data value is copied in, beyond itself."""
MAX_BYTES_BESIDES_PIXELS = 256 * 2**20
"""The most a deflated dataset may inflate to besides its Pixel Data: far more than the header of any SEG.

A few megabytes of deflated zeros inflate to gigabytes; only Pixel Data
that the image's Rows x Columns x frames x bits account for may be that large.
"""


def read_dicom_file(
    path: Path, stop_before_pixels: bool = False, specific_tags: list[int | str] | None = None
) -> FileDataset:
    """``pydicom.dcmread``, with a deflated dataset inflated as it is parsed (see the module docstring)."""
    with _FileOfKnownSize(path) as stream:
        preamble = read_preamble(stream, force=False)
        file_meta = FileMetaDataset(read_dataset(stream, False, True, stop_when=_past_file_meta))
        if file_meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
            stream.seek(0)
            return pydicom.dcmread(stream, stop_before_pixels=stop_before_pixels, specific_tags=specific_tags)
        tags = [Tag(tag) for tag in specific_tags] if specific_tags else None  # dcmread takes keywords, read_dataset not
        inflating = _InflatingStream(stream)
        dataset = read_dataset(inflating, False, True, stop_when=_at_pixel_data, specific_tags=tags)
        wanted = tags is None or PIXEL_DATA_TAG in tags
        if wanted and not stop_before_pixels and not inflating.at_end():
            dataset.add(_pixel_data_element(inflating, _native_pixel_bytes(dataset)))
            dataset.update(read_dataset(inflating, False, True, specific_tags=tags))
    return FileDataset(path, dataset, preamble=preamble, file_meta=file_meta, is_implicit_VR=False, is_little_endian=True)


class _FileOfKnownSize(io.BufferedReader):
    """A file opened for reading whose reads never ask for more bytes than are left in it.

    Python allocates the bytes a read asks for before it reads them: pydicom
    reads an element's value by its declared length, so a length field saying
    4 GiB in a small file would cost 4 GiB before the file runs out.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._size = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            size = min(size, max(self._size - self.tell(), 0))
        return super().read(size)


def _past_file_meta(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag.group != FILE_META_GROUP


def _at_pixel_data(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag == PIXEL_DATA_TAG


def _native_pixel_bytes(dataset: Dataset) -> int:
    """The most bytes native Pixel Data may have: Rows x Columns x frames x bits of the image the dataset describes.

    Where the dataset does not say (a read of specific tags, or a broken
    header), what is allowed besides Pixel Data.
    """
    try:
        rows, columns, frames, bits = (int(dataset.get(keyword, default)) for keyword, default in
                                       (("Rows", None), ("Columns", None), ("NumberOfFrames", 1), ("BitsAllocated", None)))
    except (TypeError, ValueError, OverflowError):
        return MAX_BYTES_BESIDES_PIXELS
    return -(-rows * columns * frames * bits // 8)


def _pixel_data_element(inflating: _InflatingStream, native_bytes: int) -> DataElement:
    """The Pixel Data element the stream is at, its native value inflated into a bytearray of its own.

    Its declared length is checked against ``native_bytes`` before anything
    that size is allocated: only padding to an even length may be more.
    """
    group, element, vr, _, length = LONG_HEADER.unpack(inflating.read(LONG_HEADER.size))
    if (group << 16 | element) != PIXEL_DATA_TAG or vr not in (b"OB", b"OW") or length == UNDEFINED_LENGTH:
        raise ValueError(f"the Pixel Data element header is {vr!r} of length {length:#x}, not native OB or OW")
    if length > native_bytes + native_bytes % 2:
        raise ValueError(f"the Pixel Data declares {length} bytes, more than the {native_bytes} of Rows x Columns x "
                         "NumberOfFrames x BitsAllocated")
    # A bytearray is kept as the value only when pydicom is told it needs no conversion: else it is split into ints.
    return DataElement(PIXEL_DATA_TAG, vr.decode(), inflating.read_into_bytearray(length), already_converted=True)


class _InflatingStream:
    """The inflated dataset as a read-only stream for pydicom's parser, inflated only as far as it is read.

    What has been inflated and not yet handed out as a bytearray stays
    buffered, so the parser may seek back over it.
    """

    def __init__(self, deflated: BinaryIO) -> None:
        self._deflated = deflated
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._buffer = bytearray()
        self._buffer_start = 0
        self._position = 0
        self._besides_pixels = 0

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position}[whence]
        if base + offset < self._buffer_start:
            raise ValueError("cannot seek back into Pixel Data already handed out")
        self._position = base + offset
        return self._position

    def read(self, size: int = -1) -> bytes:
        if size is not None and size > MAX_BYTES_BESIDES_PIXELS:  # a value's declared length: refused before inflating
            raise ValueError(f"an element of the deflated dataset declares {size} bytes, more than the "
                             f"{MAX_BYTES_BESIDES_PIXELS} allowed besides its Pixel Data")
        end = None if size is None or size < 0 else self._position + size
        while end is None or self._buffer_start + len(self._buffer) < end:
            inflated = self._inflate(OUTPUT_BYTES)
            if not inflated:
                break
            self._keep(inflated)
        start = self._position - self._buffer_start
        data = bytes(self._buffer[start : None if end is None else end - self._buffer_start])
        self._position += len(data)
        return data

    def at_end(self) -> bool:
        """Whether nothing is left to read."""
        if self._position < self._buffer_start + len(self._buffer):
            return False
        self._keep(self._inflate(OUTPUT_BYTES))
        return self._position == self._buffer_start + len(self._buffer)

    def read_into_bytearray(self, size: int) -> bytearray:
        """The next ``size`` bytes in a bytearray of their own; what lies before them can no longer be read."""
        start = self._position - self._buffer_start
        buffered = self._buffer[start : start + size]
        self._buffer = self._buffer[start + size :]
        value = bytearray(size)  # filled in place: a growing bytearray may be copied as it grows
        view = memoryview(value)
        view[: len(buffered)] = buffered
        filled = len(buffered)
        while filled < size:
            inflated = self._inflate(size - filled)
            if not inflated:
                raise ValueError(f"the deflated dataset ends {size - filled} bytes into a value of {size} bytes")
            view[filled : filled + len(inflated)] = inflated
            filled += len(inflated)
        self._position += size
        self._buffer_start = self._position
        return value

    def _keep(self, inflated: bytes) -> None:
        """Buffer what was inflated for the parser: never more in all than :data:`MAX_BYTES_BESIDES_PIXELS`."""
        self._besides_pixels += len(inflated)
        if self._besides_pixels > MAX_BYTES_BESIDES_PIXELS:
            raise ValueError(f"the deflated dataset inflates to more than {MAX_BYTES_BESIDES_PIXELS} bytes besides "
                             "its Pixel Data")
        self._buffer += inflated

    def _inflate(self, most: int) -> bytes:
        """The next inflated bytes, at most ``most`` of them; empty at the stream's end."""
        while not self._inflater.eof:
            deflated = self._inflater.unconsumed_tail or self._deflated.read(INPUT_BYTES)
            if not deflated:
                raise ValueError("the deflated dataset is cut short: its last block is missing")
            try:
                inflated = self._inflater.decompress(deflated, min(most, OUTPUT_BYTES))
            except zlib.error as error:
                raise ValueError(f"the deflated dataset is corrupt ({cause(error)})") from error
            if inflated:
                return inflated
        return b""
