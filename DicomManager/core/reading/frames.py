"""Decoding a SEG's frames a few at a time: pydicom's decoders, or ours for deflated frames, failures named."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydicom import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import get_decoder
from pydicom.uid import UID, RLELossless

from ...errors import CodecUnavailableError, SegFileError, cause
from ..codecs.compression import DEFLATED_IMAGE_FRAME_COMPRESSION, preferred_decoding_plugin
from ..codecs.deflated_frames import decode_deflated_frames, pydicom_decodes_it
from ..library_output import library_logs_at_debug

RLE_HEADER_BYTES = 64
"""An RLE frame starts with a header of 16 four-byte integers: the segment count and offsets (PS3.5 G.3.1)."""


def decode_all_frames(dataset: Dataset, path: Path) -> np.ndarray:
    """All frames as one (frames, rows, columns) array of stored values."""
    _require_pixel_data(dataset, path)
    plugin = preferred_decoding_plugin(dataset.file_meta.TransferSyntaxUID)
    with _decoding_errors(dataset, path):
        dataset.pixel_array_options(decoding_plugin=plugin)
        pixels = dataset.pixel_array
    return pixels.reshape(-1, *pixels.shape[-2:])  # one frame decodes to (rows, columns)


class FrameReader:
    """Decodes the frames of a SEG a few at a time, so memory stays bounded for large SEGs.

    pydicom 3.0 cannot decode a single 1-bit frame that does not start on a
    byte boundary (frames of rows x columns not a multiple of 8, such as
    dcmqi's 23-column test file); such SEGs are decoded whole, once. Deflated
    Image Frame Compression is decoded by :mod:`..codecs.deflated_frames` where
    pydicom has no decoder for it.
    """

    def __init__(self, dataset: Dataset, path: Path) -> None:
        _require_pixel_data(dataset, path)
        self._dataset, self._path = dataset, path
        self._transfer_syntax = dataset.file_meta.TransferSyntaxUID
        self._own_deflate = self._transfer_syntax == DEFLATED_IMAGE_FRAME_COMPRESSION and not pydicom_decodes_it()
        if self._transfer_syntax == RLELossless:
            check_rle_segments(dataset, path)
        pixels_per_frame = int(dataset.Rows) * int(dataset.Columns)
        unaligned = int(dataset.BitsAllocated) == 1 and pixels_per_frame % 8 and not is_encapsulated(self._transfer_syntax)
        self._all_frames = decode_all_frames(dataset, path) if unaligned else None

    @property
    def frame_shape(self) -> tuple[int, int]:
        """The (rows, columns) every frame decodes to."""
        return int(self._dataset.Rows), int(self._dataset.Columns)

    def frames(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        """The frames at 0-based ``indices``, in that order."""
        if self._all_frames is not None:
            yield from (self._all_frames[index] for index in indices)
            return
        if self._own_deflate:
            yield from decode_deflated_frames(self._dataset, indices, self._path)
            return
        plugin = preferred_decoding_plugin(self._transfer_syntax)
        with _decoding_errors(self._dataset, self._path):
            decoder = get_decoder(self._transfer_syntax)
            for frame, _ in decoder.iter_array(self._dataset, indices=list(indices), decoding_plugin=plugin):
                yield frame


def is_encapsulated(transfer_syntax_uid: UID) -> bool:
    """Whether Pixel Data in this transfer syntax is encapsulated, Deflated Image Frame Compression included."""
    if transfer_syntax_uid == DEFLATED_IMAGE_FRAME_COMPRESSION:
        return True
    return transfer_syntax_uid.is_transfer_syntax and transfer_syntax_uid.is_encapsulated


def _require_pixel_data(dataset: Dataset, path: Path) -> None:
    if "PixelData" not in dataset or not dataset.PixelData:
        raise SegFileError(f"{path}: the file has no Pixel Data (7FE0,0010), or it is empty.")


@contextmanager
def _decoding_errors(dataset: Dataset, path: Path) -> Iterator[None]:
    """Decoding failures as our errors naming the file and transfer syntax, the cause chained.

    pydicom's own logging of each failed plugin (a traceback at ERROR) goes
    to DEBUG: the user gets one line.
    """
    name = getattr(dataset.file_meta.get("TransferSyntaxUID"), "name", "its transfer syntax")
    try:
        with library_logs_at_debug():
            yield
    except NotImplementedError as error:
        raise CodecUnavailableError(f"{path}: no installed decoder handles {name} ({cause(error)}).") from error
    # Only pydicom's decoders run in these blocks, so even a TypeError or an IndexError is theirs, on this data.
    except (RuntimeError, ValueError, EOFError, TypeError, IndexError, KeyError, AttributeError) as error:
        raise SegFileError(f"{path}: the pixel data cannot be decoded as {name} ({cause(error)}).") from error


def check_rle_segments(dataset: Dataset, path: Path) -> None:
    """An RLE frame holds one segment per byte of a sample (PS3.5 G.2): BitsAllocated must agree with the first frame's.

    A mismatch otherwise surfaces from the codec as an unrelated complaint
    (about Samples per Pixel, for example).
    """
    bits = int(dataset.BitsAllocated)
    if bits == 1:
        raise SegFileError(f"{path}: BitsAllocated (0028,0100) is 1, which RLE Lossless cannot encode (PS3.5 G.2).")
    try:
        first = next(generate_frames(dataset.PixelData, number_of_frames=int(dataset.get("NumberOfFrames", 1))))
    except (ValueError, StopIteration, EOFError) as error:
        raise SegFileError(
            f"{path}: the encapsulated Pixel Data (7FE0,0010) holds no readable frame ({cause(error)})."
        ) from error
    if len(first) < RLE_HEADER_BYTES:
        raise SegFileError(f"{path}: RLE frame 1 is {len(first)} bytes, shorter than its 64-byte header.")
    segments = int.from_bytes(first[:4], "little")
    expected = -(-bits // 8) * int(dataset.get("SamplesPerPixel", 1) or 1)
    if segments != expected:
        raise SegFileError(
            f"{path}: BitsAllocated (0028,0100) is {bits}, but RLE frame 1 holds {segments} segment(s), "
            f"which encode {8 * segments}-bit pixels: the header and the pixel encoding disagree."
        )
