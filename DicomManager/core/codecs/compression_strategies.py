"""One strategy per compression: how highdicom encodes a SEG's frames, what the dataset needs after, how it is saved.

The writers ask a :class:`CompressionStrategy` and never the compression
itself, for LABELMAP and BINARY SEGs alike:

- :meth:`~CompressionStrategy.encoding`: the fastest encoding of the frames,
  for the block where highdicom builds the dataset. For a LABELMAP that is
  a frame sink (see :mod:`.highdicom_frame_calls`): native frames collected in
  place (:mod:`.native_frames`), deflated meanwhile on threads for a deflated
  dataset (:mod:`.deflating_ahead`), deflated one by one as they come
  (:mod:`.deflated_frames`), or encoded ahead on forked workers where a pool
  pays (:mod:`.frame_pool`). BINARY frames, packed 1 bit per pixel by
  highdicom, get the plain encoding.
- :meth:`~CompressionStrategy.plain_encoding`: highdicom's own encoding in
  the compression's syntax, with what highdicom leaves undone completed after;
  it writes the same file as the fast one.
- :meth:`~CompressionStrategy.save`: writing the built dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import Dataset

from .compression import Compression, ensure_encoder_available
from .deflated_file import save_deflated
from .deflated_frames import FrameDeflater, deflate_frames, mark_frames_deflated, save_with_deflated_frames
from .deflating_ahead import deflating_ahead
from .encoding_workers import SLABS_PER_WORKER, encoding_workers
from .frame_pool import FramePool, fork_available
from .highdicom_frame_calls import FrameEncoding
from .native_frames import STAND_IN_SYNTAX, FrameCollector, make_native

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FramesToEncode:
    """The pixel array highdicom is given: label planes (slices, rows, columns), or masks (slices, rows, columns, segments).

    ``omit_empty``: whether highdicom leaves empty frames out;
    ``requested_workers``: the export's ``workers``.
    """

    planes: np.ndarray
    omit_empty: bool
    requested_workers: int

    @property
    def binary(self) -> bool:
        """Whether these are a BINARY SEG's masks, which highdicom packs 1 bit per pixel."""
        return self.planes.dtype == np.bool_

    @property
    def frame_count(self) -> int:
        """How many frames highdicom makes at most: a plane's, or a mask's per segment."""
        return self.planes.shape[0] * (self.planes.shape[3] if self.binary else 1)


class CompressionStrategy:
    """A compression whose frames highdicom encodes in its syntax (none or a pixel codec), and which pydicom saves."""

    def __init__(self, compression: Compression) -> None:
        ensure_encoder_available(compression)
        self.compression = compression

    @contextmanager
    def encoding(self, frames: FramesToEncode) -> Iterator[FrameEncoding]:
        """The fastest encoding of ``frames``, for the block where highdicom builds their dataset."""
        yield self.plain_encoding(frames)

    def plain_encoding(self, frames: FramesToEncode) -> FrameEncoding:
        """highdicom's own encoding of ``frames`` in this compression's syntax, completed by :meth:`fix_up`."""
        workers = encoding_workers(self.compression, frames.frame_count, frames.requested_workers)
        return FrameEncoding(self.compression.frame_transfer_syntax_uid, workers, self.fix_up)

    def fix_up(self, seg: Dataset) -> None:
        """What a dataset highdicom built in :attr:`Compression.frame_transfer_syntax_uid` needs for this compression."""

    def save(self, seg: Dataset, path: Path) -> None:
        """Write the dataset (with its file meta) to ``path``."""
        seg.save_as(path, enforce_file_format=True)


class Uncompressed(CompressionStrategy):
    """Explicit VR Little Endian: a LABELMAP's native frames collected in place, never joined (:mod:`.native_frames`)."""

    @contextmanager
    def encoding(self, frames: FramesToEncode) -> Iterator[FrameEncoding]:
        if frames.binary:
            yield self.plain_encoding(frames)
            return
        yield FrameEncoding(STAND_IN_SYNTAX, collector := FrameCollector(), lambda seg: make_native(seg, collector))

    def plain_encoding(self, frames: FramesToEncode) -> FrameEncoding:
        return FrameEncoding(self.compression.frame_transfer_syntax_uid, 0, self.fix_up)


class DeflatedDataset(Uncompressed):
    """Deflated Explicit VR Little Endian: native frames, a LABELMAP's deflated on threads while highdicom builds the rest."""

    @contextmanager
    def encoding(self, frames: FramesToEncode) -> Iterator[FrameEncoding]:
        if frames.binary:
            yield self.plain_encoding(frames)
            return
        with deflating_ahead(frames.planes, frames.omit_empty) as ahead:
            collector = FrameCollector(ahead.deflated_for)

            def finish(seg: Dataset) -> None:
                make_native(seg, collector)
                self.fix_up(seg)

            yield FrameEncoding(STAND_IN_SYNTAX, collector, finish)

    def fix_up(self, seg: Dataset) -> None:
        seg.file_meta.TransferSyntaxUID = self.compression.transfer_syntax_uid

    def save(self, seg: Dataset, path: Path) -> None:
        save_deflated(seg, path)


class DeflatedFrames(Uncompressed):
    """Deflated Image Frame Compression: a LABELMAP's frames deflated as highdicom hands them over, BINARY ones after."""

    @contextmanager
    def encoding(self, frames: FramesToEncode) -> Iterator[FrameEncoding]:
        if frames.binary:
            yield self.plain_encoding(frames)
            return
        with FrameDeflater() as deflater:
            yield FrameEncoding(STAND_IN_SYNTAX, deflater, mark_frames_deflated)

    def fix_up(self, seg: Dataset) -> None:
        deflate_frames(seg)  # 1-bit frames are each packed on their own before they are deflated

    def save(self, seg: Dataset, path: Path) -> None:
        save_with_deflated_frames(seg, path)


class PixelCodec(CompressionStrategy):
    """RLE, JPEG-LS or JPEG 2000: a LABELMAP's frames encoded ahead on forked workers where a pool pays (:mod:`.frame_pool`)."""

    @contextmanager
    def encoding(self, frames: FramesToEncode) -> Iterator[FrameEncoding]:
        plain = self.plain_encoding(frames)
        if frames.binary or plain.workers == 0 or not fork_available():
            yield plain
            return
        workers = int(plain.workers)
        bits = np.iinfo(frames.planes.dtype).bits
        expected = {
            "transfer_syntax_uid": plain.transfer_syntax_uid,
            "bits_allocated": bits,
            "bits_stored": bits,
            "photometric_interpretation": "MONOCHROME2",
            "pixel_representation": 0,
        }
        slab_frames = -(-frames.planes.shape[0] // (workers * SLABS_PER_WORKER))
        with FramePool(frames.planes, expected, frames.omit_empty, workers, slab_frames) as pool:
            yield FrameEncoding(plain.transfer_syntax_uid, pool)


_STRATEGIES: dict[Compression, type[CompressionStrategy]] = {
    Compression.NONE: Uncompressed,
    Compression.RLE: PixelCodec,
    Compression.JPEGLS: PixelCodec,
    Compression.JPEG2000: PixelCodec,
    Compression.DEFLATE: DeflatedDataset,
    Compression.DEFLATE_FRAMES: DeflatedFrames,
}


def compression_strategy(compression: Compression, binary: bool = False) -> CompressionStrategy:
    """The strategy of ``compression`` for a LABELMAP SEG, or for a ``binary`` one.

    BINARY frames are packed 1 bit per pixel; of the pixel codecs, highdicom
    encodes them only with JPEG 2000 (which dcmqi 1.5.7 cannot read). RLE and
    JPEG-LS therefore become deflate for them: lossless, small, and read by
    dcmqi, highdicom and OHIF.

    Raises
    ------
    CodecUnavailableError
        When the compression cannot be written here.
    """
    if binary and compression in (Compression.RLE, Compression.JPEGLS):
        logger.info("A BINARY SEG cannot use %s; writing it deflated", compression.value)
        compression = Compression.DEFLATE
    return _STRATEGIES[compression](compression)
