"""Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, Supplement 244): each frame deflated on its own.

PS3.5 8.2.16 and A.4.13: the dataset is Explicit VR Little Endian and the
Pixel Data is encapsulated, one fragment per frame, each fragment a raw
deflate stream (RFC 1951, no zlib header) of that frame's uncompressed bytes.
A 1-bit frame is packed on its own, first pixel in the lowest bit, padded to
a whole byte. Files are about as small as a deflated dataset, yet each frame
can be fetched alone (DICOMweb), which suits labelmaps and binary masks.

pydicom 3.0.2 does not know this transfer syntax; where the installed pydicom
has a decoder for it, the readers use that instead (see
:func:`pydicom_decodes_it`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import ExplicitVRLittleEndian

from ...errors import SegFileError, cause
from ..cores import available_cores
from .compression import DEFLATED_IMAGE_FRAME_COMPRESSION
from .deflated_file import encode_explicit_little_endian, write_part10
from .native_frames import little_endian

DEFLATE_LEVEL = 8
"""zlib level for each frame, the level of deflated SEGs (see :mod:`.deflated_file`)."""


def pydicom_decodes_it() -> bool:
    """Whether the installed pydicom has a decoder for Deflated Image Frame Compression (releases after 3.0.2)."""
    from pydicom.pixels import get_decoder

    try:
        get_decoder(DEFLATED_IMAGE_FRAME_COMPRESSION)
    except (NotImplementedError, ValueError):
        return False
    return True


def decode_deflated_frames(dataset: Dataset, indices: Sequence[int], path: Path) -> Iterator[np.ndarray]:
    """The frames at 0-based ``indices`` as (rows, columns) arrays of stored values."""
    rows, columns, bits = int(dataset.Rows), int(dataset.Columns), int(dataset.BitsAllocated)
    number_of_frames = int(dataset.get("NumberOfFrames", 1))
    if bits not in (1, 8, 16):
        raise SegFileError(f"{path}: BitsAllocated {bits} in Deflated Image Frame Compression; a SEG has 1, 8 or 16.")
    try:
        fragments = list(generate_frames(dataset.PixelData, number_of_frames=number_of_frames))
    except (ValueError, KeyError, EOFError) as error:
        raise SegFileError(
            f"{path}: the encapsulated Pixel Data (7FE0,0010) cannot be split into frames ({cause(error)})."
        ) from error
    if len(fragments) != number_of_frames:
        raise SegFileError(f"{path}: the Pixel Data holds {len(fragments)} frames, not the {number_of_frames} declared.")
    pixels = rows * columns
    expected = -(-pixels // 8) if bits == 1 else pixels * bits // 8
    for index in indices:
        data = _inflated_frame(fragments[index], expected, f"{path}: frame {index + 1}")
        if bits == 1:
            frame = np.unpackbits(np.frombuffer(data, np.uint8, count=expected), bitorder="little", count=pixels)
        else:
            frame = np.frombuffer(data, np.uint8 if bits == np.iinfo(np.uint8).bits else np.dtype("<u2"), count=pixels)
        yield frame.reshape(rows, columns)


def _inflated_frame(fragment: bytes, expected: int, where: str) -> bytes:
    """A frame's deflate stream inflated to exactly ``expected`` bytes (one more where that is odd: padding).

    Inflated with a bound, so that a stream which would inflate to gigabytes
    costs no more than the frame: what it holds beyond is refused, never read.
    """
    most = expected + expected % 2
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data = inflater.decompress(fragment, most)
        beyond = False
        while not inflater.eof and not beyond:  # the stream's end may lie in input the bound held back
            tail = inflater.unconsumed_tail
            beyond = bool(inflater.decompress(tail, 1))
            if inflater.unconsumed_tail == tail:
                break
    except zlib.error as error:
        raise SegFileError(f"{where} is not a valid deflate stream ({cause(error)}).") from error
    if beyond:
        raise SegFileError(f"{where} inflates to more than the {expected} bytes a frame has.")
    if not inflater.eof:
        raise SegFileError(f"{where} is cut short: its deflate stream ends after {len(data)} of {expected} bytes.")
    if len(data) < expected:
        raise SegFileError(f"{where} inflates to {len(data)} bytes, not the {expected} a frame has.")
    if inflater.unused_data.rstrip(b"\0") or len(inflater.unused_data) > 1:  # a fragment is padded to even length
        raise SegFileError(f"{where} holds {len(inflater.unused_data)} bytes after its deflate stream.")
    return data


class FrameDeflater:
    """A frame sink that deflates each frame highdicom would encode, on a thread per core: highdicom encapsulates the results.

    highdicom is asked for an encapsulated dataset in a stand-in syntax (see
    :mod:`.native_frames`), its frames taken by this (through
    :mod:`.highdicom_frame_calls`); it hands over each
    frame (8 or 16 bits) as its loop reaches it, and zlib lets go of the GIL,
    so the frames are deflated while highdicom goes on. Only the deflated
    frames are ever held. The dataset's transfer syntax is then set by
    :func:`mark_frames_deflated`. Shut down on exit, as a pool.
    """

    def __init__(self) -> None:
        self._threads = ThreadPoolExecutor(available_cores(), thread_name_prefix="deflating-frames")

    def take(self, frame: np.ndarray, arguments: Mapping[str, Any]) -> Future:
        """The future of ``frame`` deflated."""
        if arguments.get("bits_allocated") not in (8, 16):
            raise ValueError(f"FrameDeflater deflates 8- and 16-bit frames, not {arguments.get('bits_allocated')}-bit ones")
        return self._threads.submit(_deflate, little_endian(frame))

    def __enter__(self) -> FrameDeflater:
        return self

    def __exit__(self, *exception: object) -> None:
        self._threads.shutdown(wait=True, cancel_futures=exception[0] is not None)


def mark_frames_deflated(dataset: Dataset) -> None:
    """Give a dataset whose encapsulated frames are deflated the transfer syntax that says so.

    pydicom writes encapsulated Pixel Data with an undefined length only for
    the syntaxes it knows: this one's is set here.
    """
    dataset["PixelData"].VR = "OB"
    dataset["PixelData"].is_undefined_length = True
    dataset.file_meta.TransferSyntaxUID = DEFLATED_IMAGE_FRAME_COMPRESSION


def deflate_frames(dataset: Dataset) -> None:
    """Replace the dataset's native Pixel Data by deflated frames and set the transfer syntax to say so."""
    rows, columns, bits = int(dataset.Rows), int(dataset.Columns), int(dataset.BitsAllocated)
    number_of_frames = int(dataset.get("NumberOfFrames", 1))
    native = np.frombuffer(dataset.PixelData, np.uint8)
    if bits == 1:
        pixels = rows * columns
        bits_of_frames = np.unpackbits(native, bitorder="little", count=pixels * number_of_frames)
        bits_of_frames = bits_of_frames.reshape(number_of_frames, pixels)
        frames = [np.packbits(frame, bitorder="little").tobytes() for frame in bits_of_frames]
    else:
        frame_bytes = rows * columns * bits // 8
        frames = [native[index * frame_bytes:(index + 1) * frame_bytes].tobytes() for index in range(number_of_frames)]
    dataset.PixelData = encapsulate([_deflate(frame) for frame in frames])
    mark_frames_deflated(dataset)


def inflate_frames(dataset: Dataset, path: Path) -> None:
    """Replace deflated frames by native Pixel Data in Explicit VR Little Endian: for receivers without the syntax."""
    frames = np.stack(list(decode_deflated_frames(dataset, range(int(dataset.get("NumberOfFrames", 1))), path)))
    if int(dataset.BitsAllocated) == 1:
        dataset.PixelData = np.packbits(frames.ravel(), bitorder="little").tobytes()
        vr = "OB"
    else:
        dataset.PixelData = frames.tobytes()  # decoded as little endian already
        vr = "OW" if int(dataset.BitsAllocated) > np.iinfo(np.uint8).bits else "OB"
    dataset["PixelData"].VR = vr
    dataset["PixelData"].is_undefined_length = False
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def save_with_deflated_frames(dataset: Dataset, path: Path) -> None:
    """Write a dataset whose frames :func:`deflate_frames` compressed (pydicom 3.0.2's ``save_as`` refuses the syntax)."""
    with encode_explicit_little_endian(dataset).getbuffer() as body:
        write_part10(path, dataset.file_meta, body)


def _deflate(frame: bytes | np.ndarray) -> bytes:
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(frame) + compressor.flush()
